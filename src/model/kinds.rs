//! The kinds of object flinkops renders, applies, watches and prunes.

use kube::discovery::ApiResource;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManagedKind {
    pub kind: &'static str,
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    /// Lower first: configuration and Services exist before the pods that use them.
    pub apply_order: u8,
}

pub const CONFIG_MAP: ManagedKind = ManagedKind {
    kind: "ConfigMap",
    group: "",
    version: "v1",
    plural: "configmaps",
    apply_order: 0,
};
pub const SERVICE: ManagedKind = ManagedKind {
    kind: "Service",
    group: "",
    version: "v1",
    plural: "services",
    apply_order: 1,
};
pub const INGRESS: ManagedKind = ManagedKind {
    kind: "Ingress",
    group: "networking.k8s.io",
    version: "v1",
    plural: "ingresses",
    apply_order: 2,
};
pub const DEPLOYMENT: ManagedKind = ManagedKind {
    kind: "Deployment",
    group: "apps",
    version: "v1",
    plural: "deployments",
    apply_order: 3,
};

pub const MANAGED: [ManagedKind; 4] = [CONFIG_MAP, SERVICE, INGRESS, DEPLOYMENT];

impl ManagedKind {
    pub fn find(kind: &str) -> Option<ManagedKind> {
        MANAGED.into_iter().find(|k| k.kind == kind)
    }

    /// Where an object of `kind` goes in the order objects are applied (unknown kinds
    /// last).
    pub fn apply_rank(kind: &str) -> u8 {
        ManagedKind::find(kind).map_or(u8::MAX, |k| k.apply_order)
    }

    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn api_resource(&self) -> ApiResource {
        ApiResource {
            group: self.group.into(),
            version: self.version.into(),
            api_version: self.api_version(),
            kind: self.kind.into(),
            plural: self.plural.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rendered_kind_is_managed_in_order() {
        assert_eq!(ManagedKind::find("Deployment"), Some(DEPLOYMENT));
        assert_eq!(ManagedKind::find("Pod"), None);
        assert_eq!(INGRESS.api_version(), "networking.k8s.io/v1");
        assert_eq!(CONFIG_MAP.api_version(), "v1");
        let mut order: Vec<u8> = MANAGED.iter().map(|k| k.apply_order).collect();
        order.sort_unstable();
        order.dedup();
        assert_eq!(order.len(), MANAGED.len());
    }
}
