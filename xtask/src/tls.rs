//! ha's HTTPS certificate: the user's PEM files (`[ha.tls] cert` + `key`), checked here
//! where they are, or a local CA and a server certificate generated per project into
//! .state/<project>/tls/ (owner-only, like the Serf secrets) and renewed before they
//! expire. Either way ha gets one file, chain + key, copied in before it starts (and
//! replaced, with a hitless reload, when it changes): never in an image, env or
//! generated file.
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use cluster::{Cluster, Tls};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

use crate::context::{Ctx, UsageError};
use crate::secrets::write_private;

/// Where ha's HAProxy reads the certificate (templates/haproxy.cfg.j2 names it too).
pub(crate) const CONTAINER_DIR: &str = "/etc/haproxy/tls";
pub(crate) const CONTAINER_FILE: &str = "server.pem";

pub(crate) fn dir(ctx: &Ctx, cluster: &Cluster) -> PathBuf {
    crate::state_dir::project_at(&ctx.root, cluster).join("tls")
}

/// The project CA's certificate, for clients (`curl --cacert`).
pub(crate) fn ca_path(ctx: &Ctx, cluster: &Cluster) -> PathBuf {
    dir(ctx, cluster).join("ca.pem")
}

/// What ha gets at CONTAINER_DIR/CONTAINER_FILE (certificate chain, then key), or None
/// without `[ha.tls]`. Generates the project's certificate on first use; bad files are
/// a usage error (exit 2) naming the file and key.
pub(crate) fn server_pem(ctx: &Ctx, cluster: &Cluster) -> anyhow::Result<Option<Vec<u8>>> {
    let Some(tls) = &cluster.ha.tls else {
        return Ok(None);
    };
    if tls.generate {
        return ensure_generated(ctx, cluster).map(Some);
    }
    user_files(ctx, tls).map(Some)
}

fn user_files(ctx: &Ctx, tls: &Tls) -> anyhow::Result<Vec<u8>> {
    let (Some(cert), Some(key)) = (&tls.cert, &tls.key) else {
        anyhow::bail!(
            "ha.tls has neither files nor generate (validation lets no such model through)"
        );
    };
    let cert_text = read_pem(ctx, "ha.tls.cert", cert)?;
    let key_text = read_pem(ctx, "ha.tls.key", key)?;
    let bad = |key: &str, path: &str, fix: &str| {
        UsageError(format!("{}: {key}: {path}: {fix}", ctx.config_file()))
    };
    let pair = KeyPair::from_pem(&key_text).map_err(|_| {
        bad(
            "ha.tls.key",
            key,
            "is not a PEM private key (PKCS#8, `-----BEGIN PRIVATE KEY-----`); convert it with `openssl pkcs8 -topk8 -nocrypt`",
        )
    })?;
    let (_, pem) = x509_parser::pem::parse_x509_pem(cert_text.as_bytes()).map_err(|_| {
        bad(
            "ha.tls.cert",
            cert,
            "is not a PEM certificate; give the server certificate (chain) in PEM",
        )
    })?;
    let parsed = pem.parse_x509().map_err(|_| {
        bad(
            "ha.tls.cert",
            cert,
            "holds no valid X.509 certificate; give the server certificate in PEM",
        )
    })?;
    if parsed.public_key().subject_public_key.data.as_ref() != pair.public_key_raw() {
        anyhow::bail!(bad(
            "ha.tls.key",
            key,
            &format!("does not match the certificate {cert}; give the key the certificate was issued for"),
        ));
    }
    Ok(chain_and_key(&cert_text, &key_text))
}

/// A PEM file named in cluster.toml, relative to that file's folder.
fn read_pem(ctx: &Ctx, key: &str, path: &str) -> anyhow::Result<String> {
    let full = resolve(&ctx.config_path, path);
    std::fs::read_to_string(&full).map_err(|err| {
        UsageError(format!(
            "{}: {key}: cannot read {} ({err}); give the path of a PEM file, relative to the cluster file",
            ctx.config_file(),
            full.display()
        ))
        .into()
    })
}

/// The host files holding ha's certificate and key, each with its path in ha, for the
/// compose file to mount (HAProxy finds a key kept apart in `<crt>.key`).
pub(crate) fn compose_files(ctx: &Ctx, cluster: &Cluster) -> Vec<(PathBuf, String)> {
    let inside = format!("{CONTAINER_DIR}/{CONTAINER_FILE}");
    match &cluster.ha.tls {
        None => Vec::new(),
        Some(Tls {
            cert: Some(cert),
            key: Some(key),
            ..
        }) => vec![
            (resolve(&ctx.config_path, cert), inside.clone()),
            (resolve(&ctx.config_path, key), format!("{inside}.key")),
        ],
        Some(_) => vec![(dir(ctx, cluster).join(CONTAINER_FILE), inside)],
    }
}

fn resolve(config: &Path, path: &str) -> PathBuf {
    let folder = config.parent().unwrap_or(Path::new("."));
    folder.join(path)
}

fn chain_and_key(cert: &str, key: &str) -> Vec<u8> {
    let mut pem = cert.trim_end().to_string();
    pem.push('\n');
    pem.push_str(key.trim_end());
    pem.push('\n');
    pem.into_bytes()
}

/// Days a generated server certificate is valid (what browsers accept at most), the
/// project CA's, and how close to its end `up` renews the server certificate.
const SERVER_DAYS: i64 = 397;
const CA_DAYS: i64 = 3650;
const RENEW_DAYS: i64 = 30;

/// The project's CA (ca.pem, its key ca-key.pem) and server certificate + key
/// (server.pem), all owner-only. The server certificate is renewed by the same CA when
/// less than RENEW_DAYS are left, so clients keep trusting ca.pem; a new CA is made only
/// when there is none, its key is missing (made by an older version) or it would expire
/// first.
fn ensure_generated(ctx: &Ctx, cluster: &Cluster) -> anyhow::Result<Vec<u8>> {
    let dir = dir(ctx, cluster);
    let (ca, ca_key, server) = (
        dir.join("ca.pem"),
        dir.join("ca-key.pem"),
        dir.join(CONTAINER_FILE),
    );
    let now = OffsetDateTime::now_utc();
    let renew_before = now + Duration::days(RENEW_DAYS);
    let current = std::fs::read(&server).ok();
    // Valid for long enough, and not one of an older version's (valid until 4096).
    let longest = now + Duration::days(SERVER_DAYS);
    if ca.is_file() {
        if let Some(pem) = &current {
            let valid = not_after(pem).is_some_and(|end| end > renew_before && end <= longest);
            // A service's host added or removed: the same CA signs the new names.
            if valid && names_in(pem) == Some(server_names(cluster)) {
                return Ok(pem.clone());
            }
        }
    }
    let kept_ca = match (std::fs::read(&ca), std::fs::read_to_string(&ca_key)) {
        (Ok(ca_pem), Ok(key_pem))
            if not_after(&ca_pem).is_some_and(|end| end > now + Duration::days(SERVER_DAYS)) =>
        {
            KeyPair::from_pem(&key_pem).ok()
        }
        _ => None,
    };
    let renewed = current.is_some();
    let server_pem = match kept_ca {
        Some(ca_key) => {
            let issuer = Issuer::new(ca_params(cluster, now)?, ca_key);
            server_certificate(cluster, &issuer, now)?
        }
        None => {
            let ca_key_pair = KeyPair::generate().context("generating the project CA's key")?;
            let ca_cert = ca_params(cluster, now)?
                .self_signed(&ca_key_pair)
                .context("signing the project CA")?;
            write_private(&ca, ca_cert.pem().as_bytes())?;
            write_private(&ca_key, ca_key_pair.serialize_pem().as_bytes())?;
            if renewed {
                println!(
                    "made a new project CA ({}): clients must trust it again",
                    ca.display()
                );
            }
            let issuer = Issuer::new(ca_params(cluster, now)?, ca_key_pair);
            server_certificate(cluster, &issuer, now)?
        }
    };
    write_private(&server, &server_pem)?;
    if renewed {
        println!(
            "renewed the project's server certificate ({}), valid for {SERVER_DAYS} days",
            server.display()
        );
    }
    Ok(server_pem)
}

/// When the first certificate of a PEM text ends, if it parses.
fn not_after(pem: &[u8]) -> Option<OffsetDateTime> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem).ok()?;
    let cert = pem.parse_x509().ok()?;
    OffsetDateTime::from_unix_timestamp(cert.validity().not_after.timestamp()).ok()
}

/// The DNS names and addresses a certificate is for, sorted.
fn names_in(pem: &[u8]) -> Option<Vec<String>> {
    use x509_parser::extensions::GeneralName;
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem).ok()?;
    let cert = pem.parse_x509().ok()?;
    let san = cert.subject_alternative_name().ok()??;
    let mut names: Vec<String> = san
        .value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::DNSName(dns) => Some(dns.to_string()),
            GeneralName::IPAddress(bytes) => <[u8; 4]>::try_from(*bytes)
                .ok()
                .map(|octets| std::net::Ipv4Addr::from(octets).to_string()),
            _ => None,
        })
        .collect();
    names.sort();
    Some(names)
}

/// The names ha's certificate is for: what a client on this host uses (the bind address,
/// localhost, ha's name) and every service's hosts; sorted.
fn server_names(cluster: &Cluster) -> Vec<String> {
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        cluster.ha.name.clone(),
    ];
    if !cluster.ha.bind.is_unspecified() {
        names.push(cluster.ha.bind.to_string());
    }
    for service in cluster.services() {
        names.extend(service.hosts.iter().cloned());
    }
    names.sort();
    names.dedup();
    names
}

/// The project CA: the same name and key sign every renewal (its key identifier comes
/// from the key), so a renewed certificate chains to the ca.pem clients already trust.
fn ca_params(cluster: &Cluster, now: OffsetDateTime) -> anyhow::Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(
        DnType::CommonName,
        format!("lbkit {} local CA", cluster.project),
    );
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(CA_DAYS);
    Ok(params)
}

/// ha's certificate and key, chain first, for [`server_names`], valid SERVER_DAYS (a day
/// of slack for clock skew).
fn server_certificate(
    cluster: &Cluster,
    issuer: &Issuer<'_, KeyPair>,
    now: OffsetDateTime,
) -> anyhow::Result<Vec<u8>> {
    let mut params = CertificateParams::new(server_names(cluster))?;
    params
        .distinguished_name
        .push(DnType::CommonName, cluster.ha.name.clone());
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(SERVER_DAYS) - Duration::days(1);
    let key = KeyPair::generate().context("generating ha's TLS key")?;
    let cert = params
        .signed_by(&key, issuer)
        .context("signing ha's certificate")?;
    Ok(chain_and_key(&cert.pem(), &key.serialize_pem()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster() -> Cluster {
        cluster::parse("[ha.tls]\ngenerate = true\n", "cluster.toml").unwrap()
    }

    #[test]
    fn a_renewal_chains_to_the_same_ca_and_is_bounded() {
        let cluster = cluster();
        let now = OffsetDateTime::now_utc();
        let ca_key = KeyPair::generate().unwrap();
        let ca = ca_params(&cluster, now)
            .unwrap()
            .self_signed(&ca_key)
            .unwrap();
        let key_pem = ca_key.serialize_pem();
        let first = server_certificate(
            &cluster,
            &Issuer::new(ca_params(&cluster, now).unwrap(), ca_key),
            now,
        )
        .unwrap();
        // Later, from the kept key only.
        let later = now + Duration::days(370);
        let kept = KeyPair::from_pem(&key_pem).unwrap();
        let second = server_certificate(
            &cluster,
            &Issuer::new(ca_params(&cluster, later).unwrap(), kept),
            later,
        )
        .unwrap();
        let ca_der = x509_parser::pem::parse_x509_pem(ca.pem().as_bytes())
            .unwrap()
            .1;
        let ca_cert = ca_der.parse_x509().unwrap();
        for pem in [&first, &second] {
            let der = x509_parser::pem::parse_x509_pem(pem).unwrap().1;
            let cert = der.parse_x509().unwrap();
            cert.verify_signature(Some(ca_cert.public_key()))
                .expect("signed by the project CA");
            assert_eq!(cert.issuer(), ca_cert.subject());
            let days = (cert.validity().not_after.timestamp()
                - cert.validity().not_before.timestamp())
                / 86_400;
            assert!(days <= SERVER_DAYS, "{days} days");
        }
        assert!(not_after(ca.pem().as_bytes()).unwrap() > now + Duration::days(3000));
    }

    /// Every service's hosts are names of ha's certificate; a changed set is re-signed.
    #[test]
    fn the_certificate_names_every_services_hosts() {
        let text = "[ha.tls]\ngenerate = true\n[services.api]\nhosts = [\"api.localhost\", \"*.shop.localhost\"]\n";
        let cluster = cluster::parse(text, "cluster.toml").unwrap();
        let now = OffsetDateTime::now_utc();
        let ca_key = KeyPair::generate().unwrap();
        let issuer = Issuer::new(ca_params(&cluster, now).unwrap(), ca_key);
        let pem = server_certificate(&cluster, &issuer, now).unwrap();
        let names = names_in(&pem).unwrap();
        assert_eq!(names, server_names(&cluster));
        for name in [
            "*.shop.localhost",
            "api.localhost",
            "localhost",
            "127.0.0.1",
            "ha",
        ] {
            assert!(names.contains(&name.to_string()), "{name} in {names:?}");
        }
        assert_ne!(Some(server_names(&self::tests::cluster())), Some(names));
    }
}
