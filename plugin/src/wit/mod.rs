//! The plugin contracts, frozen per version, as Zed's extension host does:
//! `plugin/wit/since_v<version>/` holds the WIT of each released version,
//! never edited once released, and `since_v<version>.rs` holds the host
//! bindings generated from it. A plugin declares its version in the names of
//! the interfaces it imports and exports (`vprog:plugin/module@0.1.0`); the
//! host picks the matching module ([`Contract::of_version`]) or refuses the
//! plugin, naming the versions it runs ([`supported`]).
//!
//! A new version gets a new folder and module beside the old ones; the old
//! ones stay, so plugins built against them keep loading.

pub mod since_v0_1_0;

/// The package every plugin is built against.
pub const PACKAGE: &str = "vprog:plugin";

/// A contract version this host runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contract {
    /// `vprog:plugin@0.1.0` (`plugin/wit/since_v0.1.0/`).
    V0_1_0,
}

impl Contract {
    /// Every version this host runs, oldest first.
    pub const ALL: [Contract; 1] = [Contract::V0_1_0];

    /// The contract of version `version` (`0.1.0`), if this host runs it.
    pub fn of_version(version: &str) -> Option<Contract> {
        Contract::ALL.into_iter().find(|c| c.version() == version)
    }

    /// Its version, as plugins declare it.
    pub fn version(self) -> &'static str {
        match self {
            Contract::V0_1_0 => since_v0_1_0::VERSION,
        }
    }
}

/// The versions this host runs, as `vprog:plugin@0.1.0` (comma-separated).
pub fn supported() -> String {
    Contract::ALL.iter().map(|c| format!("{PACKAGE}@{}", c.version())).collect::<Vec<_>>().join(", ")
}

/// Adds the host side of every version (its imported interfaces) to
/// `linker`; the versions' interface names differ, so they coexist.
pub(crate) fn add_to_linker(linker: &mut wasmtime::component::Linker<crate::host::HostState>) -> wasmtime::Result<()> {
    since_v0_1_0::add_to_linker(linker)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// BLAKE3 of `plugin/wit/since_v0.1.0/plugin.wit` as released.
    const FROZEN_V0_1_0: &str = "d5c394dcef61b5389849cdfc052dbf630ebd130d47253a0361d4d261a95fca98";

    /// A released contract is frozen: its WIT never changes. A change to the
    /// contract is a new version in a new folder.
    #[test]
    fn released_contracts_are_unchanged() {
        let wit = include_str!("../../wit/since_v0.1.0/plugin.wit");
        assert!(wit.contains("package vprog:plugin@0.1.0;"));
        assert_eq!(
            blake3::hash(wit.as_bytes()).to_hex().as_str(),
            FROZEN_V0_1_0,
            "plugin/wit/since_v0.1.0/plugin.wit changed: released contracts are frozen; add plugin/wit/since_v<new>/ instead"
        );
    }

    #[test]
    fn versions_are_dispatched_and_listed() {
        assert_eq!(Contract::of_version("0.1.0"), Some(Contract::V0_1_0));
        assert_eq!(Contract::of_version("0.2.0"), None);
        assert_eq!(supported(), "vprog:plugin@0.1.0");
    }
}
