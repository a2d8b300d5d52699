//! Reading the `[tls]` certificate chains and keys from PEM files, and
//! checking them: each chain parses, each key parses and matches its leaf,
//! and each SNI name it is configured for is one the leaf covers. Errors
//! name the config key, the file and the reason.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::sign::CertifiedKey;

use super::TlsError;
use crate::config::TlsConfig;

/// Certificates by SNI name: exact names, `*.suffix` wildcards, and the
/// default for clients that send no (or an unknown) name.
#[derive(Debug, Default)]
pub struct CertSet {
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// Keyed by the part after `*.` (`example.com` for `*.example.com`).
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    default: Option<Arc<CertifiedKey>>,
    /// Every name configured, in config order, for reports.
    names: Vec<String>,
}

impl CertSet {
    /// The certificate for SNI `name` (lower case): an exact name, else a
    /// wildcard one label up, else the default.
    pub fn pick(&self, name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        if let Some(name) = name {
            if let Some(c) = self.exact.get(name) {
                return Some(c.clone());
            }
            if let Some((_, parent)) = name.split_once('.') {
                if let Some(c) = self.wildcard.get(parent) {
                    return Some(c.clone());
                }
            }
        }
        self.default.clone()
    }

    /// The SNI names configured (the default certificate's own names too).
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// How many certificates: the default one and every entry.
    pub fn len(&self) -> usize {
        let mut all: Vec<*const CertifiedKey> = self
            .exact
            .values()
            .chain(self.wildcard.values())
            .chain(self.default.iter())
            .map(Arc::as_ptr)
            .collect();
        all.sort();
        all.dedup();
        all.len()
    }

    /// Whether there is no certificate at all.
    pub fn is_empty(&self) -> bool {
        self.default.is_none() && self.exact.is_empty() && self.wildcard.is_empty()
    }

    fn add(&mut self, name: &str, ck: &Arc<CertifiedKey>) {
        let name = name.to_ascii_lowercase();
        let map = match name.strip_prefix("*.") {
            Some(parent) => self.wildcard.entry(parent.to_string()),
            None => self.exact.entry(name.clone()),
        };
        // The first certificate configured for a name wins, as in nginx.
        map.or_insert_with(|| ck.clone());
        self.names.push(name);
    }
}

/// Reads and checks every certificate and key `[tls]` names. Binds
/// nothing: this is also what a config check runs. The default certificate
/// is `tls.cert`, else the first `[[tls.certificates]]` entry.
pub fn load(cfg: &TlsConfig) -> Result<CertSet, TlsError> {
    let provider = rustls::crypto::ring::default_provider();
    let mut set = CertSet::default();
    if let Some(cert) = &cfg.cert {
        let key = cfg.key.clone().unwrap_or_default();
        let (ck, names) = read_pair(&provider, "tls", cert, &key, &[])?;
        for n in &names {
            set.add(n, &ck);
        }
        set.default = Some(ck);
    }
    for (i, c) in cfg.certificates.iter().enumerate() {
        let at = format!("tls.certificates[{i}]");
        let (ck, names) = read_pair(&provider, &at, &c.cert, &c.key, &c.names)?;
        for n in &names {
            set.add(n, &ck);
        }
        if set.default.is_none() {
            set.default = Some(ck);
        }
    }
    Ok(set)
}

/// One chain and key: parsed, matched, and the names it serves (those
/// configured, each checked against the leaf, or else the leaf's own).
fn read_pair(
    provider: &CryptoProvider,
    at: &str,
    cert_path: &Path,
    key_path: &Path,
    names: &[String],
) -> Result<(Arc<CertifiedKey>, Vec<String>), TlsError> {
    let cert_key = format!("{at}.cert");
    let key_key = format!("{at}.key");
    let fail = |key: &str, path: &Path, reason: String| TlsError::File {
        key: key.to_string(),
        path: path.to_path_buf(),
        reason,
    };
    let cert_pem = read(&cert_key, cert_path)?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(&cert_key, cert_path, format!("bad PEM: {e}")))?;
    if chain.is_empty() {
        return Err(fail(
            &cert_key,
            cert_path,
            "no CERTIFICATE block (is this the key?)".into(),
        ));
    }
    let leaf = webpki::EndEntityCert::try_from(&chain[0]).map_err(|e| {
        fail(
            &cert_key,
            cert_path,
            format!("first certificate is not a usable X.509 certificate: {e}"),
        )
    })?;
    let key_pem = read(&key_key, key_path)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        let why = match e {
            rustls::pki_types::pem::Error::NoItemsFound => {
                "no PRIVATE KEY block (is this the certificate?)".to_string()
            }
            e => format!("bad PEM: {e}"),
        };
        fail(&key_key, key_path, why)
    })?;
    let signer = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| fail(&key_key, key_path, format!("unsupported private key: {e}")))?;
    let ck = CertifiedKey::new(chain.clone(), signer);
    match ck.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(_) => {
            return Err(fail(
                &key_key,
                key_path,
                format!("does not match the certificate {}", cert_path.display()),
            ))
        }
    }
    let names = if names.is_empty() {
        let own: Vec<String> = leaf.valid_dns_names().map(str::to_string).collect();
        if own.is_empty() && at != "tls" {
            return Err(fail(
                &cert_key,
                cert_path,
                format!("has no DNS names: set {at}.names"),
            ));
        }
        own
    } else {
        for (j, n) in names.iter().enumerate() {
            // A wildcard name is checked with a label standing in for `*`.
            let probe = match n.strip_prefix("*.") {
                Some(parent) => format!("cdn-edge-probe.{parent}"),
                None => n.clone(),
            };
            let covered = ServerName::try_from(probe.as_str())
                .ok()
                .is_some_and(|sn| leaf.verify_is_valid_for_subject_name(&sn).is_ok());
            if !covered {
                return Err(fail(
                    &cert_key,
                    cert_path,
                    format!("does not cover {at}.names[{j}] = {n:?}"),
                ));
            }
        }
        names.to_vec()
    };
    Ok((Arc::new(ck), names))
}

/// The bytes of a file, or an error naming the key, the path and the OS's reason.
fn read(key: &str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::File {
        key: key.to_string(),
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CertConfig;

    struct Pair {
        cert: std::path::PathBuf,
        key: std::path::PathBuf,
    }

    fn pair(dir: &Path, stem: &str, names: &[&str]) -> Pair {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let c = rcgen::generate_simple_self_signed(names).unwrap();
        let cert = dir.join(format!("{stem}.pem"));
        let key = dir.join(format!("{stem}.key"));
        std::fs::write(&cert, c.cert.pem()).unwrap();
        std::fs::write(&key, c.key_pair.serialize_pem()).unwrap();
        Pair { cert, key }
    }

    fn cfg(default: &Pair) -> TlsConfig {
        TlsConfig {
            listen: Some("127.0.0.1:0".into()),
            cert: Some(default.cert.clone()),
            key: Some(default.key.clone()),
            ..Default::default()
        }
    }

    fn entry(p: &Pair, names: &[&str]) -> CertConfig {
        CertConfig {
            names: names.iter().map(|s| s.to_string()).collect(),
            cert: p.cert.clone(),
            key: p.key.clone(),
        }
    }

    #[test]
    fn picks_by_sni_with_wildcards_and_default() {
        let dir = tempfile::tempdir().unwrap();
        let d = pair(dir.path(), "default", &["localhost"]);
        let a = pair(dir.path(), "a", &["a.example.com"]);
        let w = pair(dir.path(), "w", &["*.example.org"]);
        let mut c = cfg(&d);
        c.certificates = vec![entry(&a, &[]), entry(&w, &["*.example.org"])];
        let set = load(&c).unwrap();
        assert_eq!(set.len(), 3);
        let leaf = |n: Option<&str>| set.pick(n).unwrap().cert[0].clone();
        let of = |p: &Pair| {
            CertificateDer::pem_slice_iter(&std::fs::read(&p.cert).unwrap())
                .next()
                .unwrap()
                .unwrap()
        };
        assert_eq!(leaf(Some("a.example.com")), of(&a));
        assert_eq!(leaf(Some("x.example.org")), of(&w));
        assert_eq!(leaf(Some("x.y.example.org")), of(&d));
        assert_eq!(leaf(Some("localhost")), of(&d));
        assert_eq!(leaf(None), of(&d));
        assert_eq!(set.names(), ["localhost", "a.example.com", "*.example.org"]);
    }

    #[test]
    fn refusals_name_key_path_and_reason() {
        let dir = tempfile::tempdir().unwrap();
        let d = pair(dir.path(), "d", &["localhost"]);
        let other = pair(dir.path(), "o", &["localhost"]);
        let msg = |c: &TlsConfig| load(c).unwrap_err().to_string();

        let mut c = cfg(&d);
        c.cert = Some(dir.path().join("missing.pem"));
        let e = msg(&c);
        assert!(
            e.starts_with("tls.cert ") && e.contains("missing.pem"),
            "{e}"
        );
        assert!(e.contains("No such file"), "{e}");

        let mut c = cfg(&d);
        c.cert = Some(d.key.clone());
        assert!(msg(&c).contains("no CERTIFICATE block"), "{}", msg(&c));

        let mut c = cfg(&d);
        c.key = Some(d.cert.clone());
        assert!(msg(&c).contains("no PRIVATE KEY block"), "{}", msg(&c));

        let mut c = cfg(&d);
        c.key = Some(other.key.clone());
        let e = msg(&c);
        assert!(
            e.starts_with("tls.key ") && e.contains("does not match"),
            "{e}"
        );

        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "-----BEGIN CERTIFICATE-----\n!!!\n").unwrap();
        let mut c = cfg(&d);
        c.cert = Some(garbage);
        assert!(msg(&c).contains("bad PEM"), "{}", msg(&c));

        let mut c = cfg(&d);
        c.certificates = vec![entry(&other, &["static.example.com"])];
        let e = msg(&c);
        assert!(
            e.starts_with("tls.certificates[0].cert ") && e.contains("does not cover"),
            "{e}"
        );
        assert!(!e.contains('\n'), "{e}");
    }
}
