//! Leader election on a coordination.k8s.io/v1 Lease, the way client-go does it: the holder
//! renews `renewTime` every `retry`; another replica takes over once it has seen the same
//! record unchanged for the lease duration (its own clock, so clock skew between nodes
//! does not matter); a leader that cannot renew within `renew_deadline` stops acting as
//! leader before anyone else can take over. Writes use the resourceVersion, so two
//! candidates racing for an expired lease cannot both win.

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, PostParams};
use std::time::{Duration, Instant};
use tokio::sync::watch;

#[derive(Debug, Clone)]
pub struct LeaseConfig {
    pub namespace: String,
    pub name: String,
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry: Duration,
}

impl LeaseConfig {
    pub fn new(namespace: String, name: String, identity: String) -> Self {
        // client-go's defaults for controllers.
        LeaseConfig {
            namespace,
            name,
            identity,
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry: Duration::from_secs(2),
        }
    }
}

/// Who this process is: the pod name when running in Kubernetes, else host and pid.
pub fn default_identity() -> String {
    if let Ok(pod) = std::env::var("POD_NAME") {
        return pod;
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    format!("{host}-{}", std::process::id())
}

/// What one look at the lease concluded (pure, for tests).
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// We hold it: renew.
    Renew,
    /// Free or expired: take it.
    Acquire,
    /// Someone else holds a live lease.
    Follow,
}

fn decide(holder: Option<&str>, me: &str, unchanged_for: Duration, duration: Duration) -> Step {
    match holder {
        Some(h) if h == me => Step::Renew,
        Some(h) if !h.is_empty() && unchanged_for < duration => Step::Follow,
        _ => Step::Acquire,
    }
}

fn now() -> MicroTime {
    MicroTime(k8s_openapi::jiff::Timestamp::now())
}

/// Runs the election until `stop` fires, publishing leadership on the returned channel's
/// sender. On stop, a leader releases the lease so a successor need not wait it out.
pub async fn elect(
    client: kube::Client,
    cfg: LeaseConfig,
    leading: watch::Sender<bool>,
    mut stop: watch::Receiver<bool>,
) {
    let api: Api<Lease> = Api::namespaced(client, &cfg.namespace);
    // The record last seen (holder, renewTime) and when we first saw it.
    let mut observed: Option<(Option<String>, Option<String>)> = None;
    let mut observed_at = Instant::now();
    let mut last_renewal = Instant::now();
    let mut first = true;
    super::fence::follow();
    loop {
        // A renewal that takes longer than the renew deadline is no renewal: bounded, so a
        // hung apiserver connection cannot keep a stale leader believing it leads.
        let sent = Instant::now();
        let result = match tokio::time::timeout(
            cfg.renew_deadline,
            try_once(&api, &cfg, &mut observed, &mut observed_at),
        )
        .await
        {
            Ok(r) => r,
            Err(_) => Err(kube::Error::Service(
                format!(
                    "no answer within the renew deadline ({:?})",
                    cfg.renew_deadline
                )
                .into(),
            )),
        };
        let is_leader = match result {
            Ok(leader) => {
                if leader {
                    last_renewal = sent;
                    super::fence::lead_until(sent + cfg.renew_deadline);
                } else {
                    super::fence::follow();
                }
                leader
            }
            Err(e) => {
                tracing::warn!(lease = %cfg.name, error = %e, "leader election: lease update failed");
                // Keep leading only while a renewal is recent enough that nobody else can
                // have taken over.
                *leading.borrow() && last_renewal.elapsed() < cfg.renew_deadline
            }
        };
        if *leading.borrow() != is_leader {
            tracing::info!(identity = %cfg.identity, lease = %cfg.name, leader = is_leader, "leader election: leadership changed");
            let _ = leading.send(is_leader);
        } else if first {
            // Known now, even if unchanged: readiness waits for this.
            leading.send_replace(is_leader);
        }
        first = false;
        tokio::select! {
            _ = tokio::time::sleep(cfg.retry) => {}
            _ = stop.changed() => break,
        }
    }
    super::fence::follow();
    if *leading.borrow() {
        let _ = leading.send(false);
        if let Err(e) = release(&api, &cfg).await {
            tracing::warn!(error = %e, "leader election: releasing the lease failed");
        }
    }
}

async fn try_once(
    api: &Api<Lease>,
    cfg: &LeaseConfig,
    observed: &mut Option<(Option<String>, Option<String>)>,
    observed_at: &mut Instant,
) -> Result<bool, kube::Error> {
    let seconds = cfg.lease_duration.as_secs() as i32;
    let Some(mut lease) = api.get_opt(&cfg.name).await? else {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(cfg.name.clone()),
                namespace: Some(cfg.namespace.clone()),
                ..Default::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(cfg.identity.clone()),
                lease_duration_seconds: Some(seconds),
                acquire_time: Some(now()),
                renew_time: Some(now()),
                lease_transitions: Some(0),
                ..Default::default()
            }),
        };
        return match api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e),
        };
    };
    let spec = lease.spec.get_or_insert_with(Default::default);
    let record = (
        spec.holder_identity.clone(),
        spec.renew_time.as_ref().map(|t| t.0.to_string()),
    );
    if observed.as_ref() != Some(&record) {
        *observed = Some(record);
        *observed_at = Instant::now();
    }
    let step = decide(
        spec.holder_identity.as_deref(),
        &cfg.identity,
        observed_at.elapsed(),
        spec.lease_duration_seconds
            .map_or(cfg.lease_duration, |s| Duration::from_secs(s.max(1) as u64)),
    );
    match step {
        Step::Follow => return Ok(false),
        Step::Renew => {}
        Step::Acquire => {
            spec.holder_identity = Some(cfg.identity.clone());
            spec.acquire_time = Some(now());
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
    }
    spec.renew_time = Some(now());
    spec.lease_duration_seconds = Some(seconds);
    // replace() sends our resourceVersion: a concurrent writer makes this a 409.
    match api.replace(&cfg.name, &PostParams::default(), &lease).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

async fn release(api: &Api<Lease>, cfg: &LeaseConfig) -> Result<(), kube::Error> {
    let Some(mut lease) = api.get_opt(&cfg.name).await? else {
        return Ok(());
    };
    let spec = lease.spec.get_or_insert_with(Default::default);
    if spec.holder_identity.as_deref() != Some(&cfg.identity) {
        return Ok(());
    }
    spec.holder_identity = None;
    spec.lease_duration_seconds = Some(1);
    spec.renew_time = Some(now());
    api.replace(&cfg.name, &PostParams::default(), &lease)
        .await?;
    tracing::info!(lease = %cfg.name, "leader election: released the lease");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: Duration = Duration::from_secs(15);

    #[test]
    fn holder_renews_others_follow_until_the_record_goes_stale() {
        let s = Duration::from_secs;
        assert_eq!(decide(Some("a"), "a", s(100), D), Step::Renew);
        assert_eq!(decide(Some("b"), "a", s(3), D), Step::Follow);
        assert_eq!(decide(Some("b"), "a", s(14), D), Step::Follow);
        assert_eq!(decide(Some("b"), "a", s(15), D), Step::Acquire);
        // Released (no holder) or never held: take it at once.
        assert_eq!(decide(None, "a", s(0), D), Step::Acquire);
        assert_eq!(decide(Some(""), "a", s(0), D), Step::Acquire);
    }
}
