//! Stage keys: blake3 over everything that determines a stage's artifacts.

use std::collections::BTreeMap;

use spike_config::{Params, encode_bytes, encode_params};

/// What changes numbers beyond parameters (the backend); part of the key of numeric kinds.
pub type NumericEnv = BTreeMap<String, String>;

/// Checks that `key` is a stage key (exactly 32 lowercase hex digits, the first half of a blake3
/// hash) before it names a path: a key read from a remote, a manifest, a run record or the
/// command line can be anything, including `""` or `../x`.
pub(crate) fn check_key(key: &str) -> anyhow::Result<()> {
    if key.len() == 32 && key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(())
    } else {
        anyhow::bail!(
            "`{}` is not a stage key (32 lowercase hex digits)",
            key.escape_debug()
        )
    }
}

/// Bumped if the key derivation itself changes (invalidates every cache entry).
const KEY_SCHEME: &[u8] = b"spike-pipe stage key v1";

/// The key of a stage: its kind, the kind's implementation version, its parameters in canonical
/// form (sorted names, exact float bits), the keys of its inputs by role, and, for numeric kinds,
/// the numeric environment, and a fingerprint of external data it imports. The stage's own name is not part of it: two stages that compute the
/// same thing share one cache entry.
pub(crate) fn stage_key(
    kind: &str,
    version: u32,
    params: &Params,
    inputs: &BTreeMap<String, Vec<String>>,
    env: Option<&NumericEnv>,
    external: Option<&str>,
) -> String {
    let mut bytes = Vec::new();
    encode_bytes(KEY_SCHEME, &mut bytes);
    encode_bytes(kind.as_bytes(), &mut bytes);
    bytes.extend(version.to_le_bytes());
    encode_params(params, &mut bytes);
    bytes.extend((inputs.len() as u64).to_le_bytes());
    for (role, keys) in inputs {
        encode_bytes(role.as_bytes(), &mut bytes);
        bytes.extend((keys.len() as u64).to_le_bytes());
        for k in keys {
            encode_bytes(k.as_bytes(), &mut bytes);
        }
    }
    match env {
        None => bytes.push(0),
        Some(env) => {
            bytes.push(1);
            bytes.extend((env.len() as u64).to_le_bytes());
            for (k, v) in env {
                encode_bytes(k.as_bytes(), &mut bytes);
                encode_bytes(v.as_bytes(), &mut bytes);
            }
        }
    }
    match external {
        None => bytes.push(0),
        Some(x) => {
            bytes.push(1);
            encode_bytes(x.as_bytes(), &mut bytes);
        }
    }
    blake3::hash(&bytes).to_hex()[..32].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use spike_config::Value;

    #[test]
    fn only_32_lowercase_hex_digits_are_keys() {
        assert!(check_key("0123456789abcdef0123456789abcdef").is_ok());
        for bad in [
            "",
            "0123456789abcdef0123456789abcde",
            "0123456789abcdef0123456789abcdef0",
            "0123456789ABCDEF0123456789abcdef",
            "../../../../../../../../../../x",
            "0123456789abcdef/123456789abcdef",
            "0123456789abcdef0123456789abcde\u{e9}",
        ] {
            assert!(check_key(bad).is_err(), "{bad:?}");
        }
        let k = stage_key("k", 1, &Params::new(), &BTreeMap::new(), None, None);
        assert!(check_key(&k).is_ok());
    }

    #[test]
    fn every_ingredient_changes_the_key() {
        let mut p = Params::new();
        p.insert("lr".into(), Value::Float(0.005));
        let inputs: BTreeMap<String, Vec<String>> =
            [("data".to_string(), vec!["k1".to_string()])].into();
        let env: NumericEnv = [("backend".to_string(), "flex".to_string())].into();
        let base = stage_key("train", 1, &p, &inputs, Some(&env), None);
        assert_eq!(base, stage_key("train", 1, &p, &inputs, Some(&env), None));
        assert_ne!(base, stage_key("train2", 1, &p, &inputs, Some(&env), None));
        assert_ne!(base, stage_key("train", 2, &p, &inputs, Some(&env), None));
        let mut p2 = p.clone();
        p2.insert("lr".into(), Value::Float(0.004));
        assert_ne!(base, stage_key("train", 1, &p2, &inputs, Some(&env), None));
        let inputs2: BTreeMap<String, Vec<String>> =
            [("data".to_string(), vec!["k2".to_string()])].into();
        assert_ne!(base, stage_key("train", 1, &p, &inputs2, Some(&env), None));
        let env2: NumericEnv = [("backend".to_string(), "tch".to_string())].into();
        assert_ne!(base, stage_key("train", 1, &p, &inputs, Some(&env2), None));
        assert_ne!(base, stage_key("train", 1, &p, &inputs, None, None));
        assert_ne!(
            base,
            stage_key("train", 1, &p, &inputs, Some(&env), Some("data v2"))
        );
    }
}
