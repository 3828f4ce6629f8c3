//! The command ids of `POST /v1/kms[/<enclave>]` (API.md §2.2) and their texts.

macro_rules! commands {
    ($($variant:ident = $id:literal, $text:literal, write: $write:literal, cluster: $cluster:literal;)*) => {
        /// A command of the binary API.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Command {
            $(
                #[doc = $text]
                $variant,
            )*
        }

        impl Command {
            /// Every command, in id order.
            pub const ALL: &'static [Command] = &[$(Command::$variant),*];

            /// The wire id.
            pub fn id(self) -> u16 {
                match self { $(Command::$variant => $id),* }
            }

            /// The text used in policies (`KEY:GENERATE`).
            pub fn text(self) -> &'static str {
                match self { $(Command::$variant => $text),* }
            }

            /// Whether it changes state.
            pub fn is_write(self) -> bool {
                match self { $(Command::$variant => $write),* }
            }

            /// Whether it is a cluster or enclave-management command: SysAdmin only, never
            /// grantable by policy.
            pub fn is_cluster(self) -> bool {
                match self { $(Command::$variant => $cluster),* }
            }

            /// The texts of the commands a policy may grant: everything but cluster and
            /// enclave management.
            pub fn grantable_texts() -> Vec<&'static str> {
                Self::ALL.iter().filter(|c| !c.is_cluster()).map(|c| c.text()).collect()
            }

            /// Looks up a wire id.
            pub fn from_id(id: u16) -> Option<Self> {
                match id { $($id => Some(Command::$variant),)* _ => None }
            }

            /// Looks up a text, case-insensitively.
            pub fn from_text(text: &str) -> Option<Self> {
                let upper = text.to_ascii_uppercase();
                match upper.as_str() { $($text => Some(Command::$variant),)* _ => None }
            }
        }
    };
}

commands! {
    ClusterAddNode = 1, "CLUSTER:ADDNODE", write: true, cluster: true;
    ClusterRemoveNode = 2, "CLUSTER:REMOVENODE", write: true, cluster: true;
    ClusterStatus = 3, "CLUSTER:STATUS", write: false, cluster: true;
    ClusterEdit = 4, "CLUSTER:EDIT", write: true, cluster: true;
    ClusterAddHsm = 5, "CLUSTER:ADDHSM", write: true, cluster: true;
    ClusterRemoveHsm = 6, "CLUSTER:REMOVEHSM", write: true, cluster: true;
    EnclaveCreate = 101, "ENCLAVE:CREATE", write: true, cluster: true;
    EnclaveDelete = 102, "ENCLAVE:DELETE", write: true, cluster: true;
    EnclaveStatus = 103, "ENCLAVE:STATUS", write: false, cluster: true;
    EnclaveList = 104, "ENCLAVE:LIST", write: false, cluster: true;
    KeyCreate = 201, "KEY:CREATE", write: true, cluster: false;
    KeyDelete = 202, "KEY:DELETE", write: true, cluster: false;
    KeyImport = 203, "KEY:IMPORT", write: true, cluster: false;
    KeyStatus = 204, "KEY:STATUS", write: false, cluster: false;
    KeyEncrypt = 205, "KEY:ENCRYPT", write: false, cluster: false;
    KeyDecrypt = 206, "KEY:DECRYPT", write: false, cluster: false;
    KeyGenerate = 207, "KEY:GENERATE", write: false, cluster: false;
    KeyList = 208, "KEY:LIST", write: false, cluster: false;
    KeyListVersions = 209, "KEY:LISTVERSIONS", write: false, cluster: false;
    KeyMac = 210, "KEY:MAC", write: false, cluster: false;
    PolicyCreate = 301, "POLICY:CREATE", write: true, cluster: false;
    PolicyDelete = 302, "POLICY:DELETE", write: true, cluster: false;
    PolicyAssign = 303, "POLICY:ASSIGN", write: true, cluster: false;
    PolicyGet = 304, "POLICY:GET", write: false, cluster: false;
    PolicyStatus = 305, "POLICY:STATUS", write: false, cluster: false;
    PolicyList = 306, "POLICY:LIST", write: false, cluster: false;
    IdentityCreate = 401, "IDENTITY:CREATE", write: true, cluster: false;
    IdentityDelete = 402, "IDENTITY:DELETE", write: true, cluster: false;
    IdentityStatus = 403, "IDENTITY:STATUS", write: false, cluster: false;
    IdentityList = 404, "IDENTITY:LIST", write: false, cluster: false;
    // minkms extensions, outside kms-go's ranges (docs/api.md).
    KeyWrappingKey = 1201, "KEY:WRAPPINGKEY", write: false, cluster: false;
    KeyImportWrapped = 1203, "KEY:IMPORTWRAPPED", write: true, cluster: false;
}

#[cfg(test)]
mod tests {
    use super::Command;

    #[test]
    fn ids_and_texts_round_trip() {
        for &c in Command::ALL {
            assert_eq!(Command::from_id(c.id()), Some(c));
            assert_eq!(Command::from_text(&c.text().to_lowercase()), Some(c));
        }
        assert_eq!(Command::KeyGenerate.id(), 207);
        assert_eq!(Command::from_id(7), None, "CLUSTER:RESEAL is reserved");
        assert_eq!(Command::from_text("KEY:EXPLODE"), None);
    }
}
