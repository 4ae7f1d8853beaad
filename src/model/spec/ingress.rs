//! `spec.ingress`: the Apache operator's Ingress for the Flink UI. Its `template` is read
//! as the operator's IngressUtils reads it: as a URL (`http://` added when it has no
//! scheme) after `{{name}}` and `{{namespace}}` are filled in, whose host is the rule's
//! host and whose path, when there is one, the rule's path. `tls` is Kubernetes'
//! IngressTLS, passed on as written. Pure.

use super::decode::{Cx, Fields};
use super::model::{Ingress, IngressTls, JobId};
use super::names::{check_host, check_secret_name};
use super::yaml::{Node, Value};

/// The host and path of the one rule an ingress template gives a job; None where the
/// template names none (a host-only template matches every path of its host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngressUrl {
    pub host: Option<String>,
    pub path: Option<String>,
}

/// The template read as the operator reads it (java.net.URL): a scheme is dropped, the
/// host is the authority without user or port, the path stops at a query or fragment.
/// Lenient, so that a spec stored before the load checked templates still renders;
/// `check_template` refuses what this would drop.
pub fn url(template: &str, name: &str, namespace: &str) -> IngressUrl {
    let filled = fill(template, name, namespace);
    let (authority, path) = split(&filled);
    let host = authority.rsplit('@').next().unwrap_or_default();
    let host = host.split(':').next().unwrap_or_default();
    let path = path.split(['?', '#']).next().unwrap_or_default();
    IngressUrl {
        host: (!host.trim().is_empty()).then(|| host.to_string()),
        path: (!path.trim().is_empty()).then(|| path.to_string()),
    }
}

/// Refuses a template whose URL reading would drop part of it or give a rule Kubernetes
/// refuses: another placeholder, a query or fragment, a user or port, a host that is not
/// a DNS name, or nothing at all.
pub fn check_template(template: &str, name: &str, namespace: &str) -> Result<(), String> {
    let filled = fill(template, name, namespace);
    if filled.contains("{{") {
        return Err(format!(
            "`{template}`: only {{{{name}}}} and {{{{namespace}}}} are filled in; remove the other `{{{{…}}}}`"
        ));
    }
    if strip_scheme(&filled).contains("://") {
        return Err(format!(
            "`{template}`: the operator takes only http:// or https:// before the host (another scheme would be read as the host)"
        ));
    }
    let (authority, path) = split(&filled);
    if let Some(c) = filled.chars().find(|c| matches!(c, '?' | '#')) {
        return Err(format!(
            "`{template}` holds `{c}`, which ends the path of a URL (the operator drops what follows); an Ingress path cannot hold it"
        ));
    }
    if authority.contains('@') {
        return Err(format!(
            "`{template}` names a user (`…@`); an Ingress rule has a host name only: remove it"
        ));
    }
    if let Some((_, port)) = authority.split_once(':') {
        return Err(format!(
            "`{template}` names a port (`:{port}`); an Ingress rule matches a host name, whatever the port: remove it"
        ));
    }
    if authority.is_empty() && path.is_empty() {
        return Err(format!("`{template}` names neither a host nor a path"));
    }
    if !authority.is_empty() {
        if authority.parse::<std::net::Ipv4Addr>().is_ok() {
            return Err(format!(
                "`{template}` gives the host `{authority}`, an IP address; an Ingress rule needs a DNS name"
            ));
        }
        check_host(authority).map_err(|e| format!("`{template}`: {e}"))?;
    }
    Ok(())
}

/// `{{name}}` and `{{namespace}}` filled in, in any case (as the operator matches them).
fn fill(template: &str, name: &str, namespace: &str) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let at = &rest[i..];
        let found = [("{{name}}", name), ("{{namespace}}", namespace)]
            .into_iter()
            .find(|(p, _)| at.get(..p.len()).is_some_and(|s| s.eq_ignore_ascii_case(p)));
        let (skip, with) = found.map_or((2, "{{"), |(p, v)| (p.len(), v));
        out.push_str(with);
        rest = &at[skip..];
    }
    out.push_str(rest);
    out
}

/// The URL without an `http://` or `https://` scheme (in any case).
fn strip_scheme(url: &str) -> &str {
    ["http://", "https://"]
        .into_iter()
        .find(|s| {
            url.get(..s.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(s))
        })
        .map_or(url, |s| &url[s.len()..])
}

/// Authority and path (with any query).
fn split(url: &str) -> (&str, &str) {
    let rest = strip_scheme(url);
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    rest.split_at(end)
}

/// `spec.ingress`; `id` fills in the template so its host is checked as it will render.
pub fn decode(cx: &mut Cx, node: &Node, id: &JobId) -> Option<Ingress> {
    let mut f = Fields::of(cx, node, "spec.ingress")?;
    let template_node = f.take("template");
    let template =
        template_node.and_then(|n| super::decode::string(cx, n, "spec.ingress.template"));
    match (&template, template_node) {
        (Some(t), Some(n)) => {
            // Without a valid name (an error already), a stand-in keeps the template's
            // own errors from hiding behind it.
            let name = if id.name.is_empty() { "name" } else { &id.name };
            if let Err(e) = check_template(t, name, &id.namespace) {
                cx.error(n.pos, "spec.ingress.template", e);
            }
        }
        (_, None) => cx.error(node.pos, "spec.ingress.template", "template is required"),
        _ => {}
    }
    let class_name = f.string(cx, "className");
    let annotations = f.labels(cx, "annotations").unwrap_or_default();
    let labels = f.labels(cx, "labels").unwrap_or_default();
    let tls = f
        .take("tls")
        .map(|n| decode_tls(cx, n, &f.field("tls")))
        .unwrap_or_default();
    f.finish(cx);
    Some(Ingress {
        template: template?,
        class_name,
        annotations,
        labels,
        tls,
    })
}

fn decode_tls(cx: &mut Cx, node: &Node, path: &str) -> Vec<IngressTls> {
    let Value::Seq(items) = &node.value else {
        cx.error(
            node.pos,
            path,
            format!(
                "expected a list of TLS entries ({{hosts, secretName}}), got {}",
                node.type_name()
            ),
        );
        return Vec::new();
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = format!("{path}[{i}]");
        let Some(mut f) = Fields::of(cx, item, &at) else {
            continue;
        };
        let hosts = f.string_list_pos(cx, "hosts").unwrap_or_default();
        for (j, (host, pos)) in hosts.iter().enumerate() {
            if let Err(mut e) = check_host(host) {
                if host.contains("{{") {
                    e.push_str("; TLS hosts are used as written (the operator fills in {{name}} and {{namespace}} only in the template)");
                }
                cx.error(*pos, &format!("{at}.hosts[{j}]"), e);
            }
        }
        let secret_node = f.take("secretName");
        let field = f.field("secretName");
        let secret_name = secret_node.and_then(|n| super::decode::string(cx, n, &field));
        if let (Some(s), Some(n)) = (&secret_name, secret_node) {
            if let Err(e) = check_secret_name(s) {
                cx.error(n.pos, &field, e);
            }
        }
        f.finish(cx);
        out.push(IngressTls {
            hosts: hosts.into_iter().map(|(h, _)| h).collect(),
            secret_name,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(host: Option<&str>, path: Option<&str>) -> IngressUrl {
        IngressUrl {
            host: host.map(String::from),
            path: path.map(String::from),
        }
    }

    #[test]
    fn templates_read_as_the_operator_reads_them() {
        let read = |t: &str| url(t, "orders", "streaming");
        // The operator's documented forms (docs/operations/ingress.md).
        assert_eq!(
            read("{{name}}.{{namespace}}.flink.k8s.io"),
            at(Some("orders.streaming.flink.k8s.io"), None)
        );
        assert_eq!(
            read("flink.k8s.io/{{namespace}}/{{name}}(/|$)(.*)"),
            at(Some("flink.k8s.io"), Some("/streaming/orders(/|$)(.*)"))
        );
        assert_eq!(
            read("/{{namespace}}/{{name}}(/|$)(.*)"),
            at(None, Some("/streaming/orders(/|$)(.*)"))
        );
        // A scheme is dropped; placeholders match in any case; a lone `/` is a path.
        assert_eq!(
            read("https://{{NAME}}.Example.com/"),
            at(Some("orders.Example.com"), Some("/"))
        );
        assert_eq!(
            read("HTTP://x.example.com"),
            at(Some("x.example.com"), None)
        );
        // What a URL drops, dropped (for specs stored before the check refused it).
        assert_eq!(
            read("u@x.example.com:8080/a?b#c"),
            at(Some("x.example.com"), Some("/a"))
        );
        assert_eq!(read(""), at(None, None));
        assert_eq!(read("{{nam"), at(Some("{{nam"), None));
        assert_eq!(read("é{{é"), at(Some("é{{é"), None));
    }

    #[test]
    fn templates_that_would_lose_a_part_or_be_refused_are_errors() {
        let check = |t: &str| check_template(t, "orders", "streaming");
        for ok in [
            "{{name}}.{{namespace}}.flink.k8s.io",
            "flink.k8s.io/{{namespace}}/{{name}}(/|$)(.*)",
            "/{{namespace}}/{{name}}",
            "https://*.example.com/{{name}}",
            "/",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
        for (bad, says) in [
            (
                "{{job}}.example.com",
                "only {{name}} and {{namespace}} are filled in",
            ),
            ("example.com/{{name}}?x=1", "holds `?`"),
            ("example.com/{{name}}#top", "holds `#`"),
            ("admin@example.com", "names a user"),
            ("example.com:8443/{{name}}", "names a port (`:8443`)"),
            ("ftp://example.com", "only http:// or https://"),
            ("", "names neither a host nor a path"),
            ("https://", "names neither a host nor a path"),
            ("10.0.0.1/{{name}}", "an IP address"),
            (
                "Flink.example.com",
                ": `Flink.example.com` is not a host name",
            ),
            (
                "{{name}}_ui.example.com",
                ": `orders_ui.example.com` is not a host name",
            ),
        ] {
            let e = check(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
