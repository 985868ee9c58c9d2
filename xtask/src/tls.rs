//! ha's HTTPS certificate: the user's PEM files (`[ha.tls] cert` + `key`), checked here
//! where they are, or a local CA and server certificate generated once per project into
//! .state/<project>/tls/ (owner-only, like the Serf secrets). Either way ha gets one file,
//! chain + key, copied in before it starts: never in an image, env or generated file.
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use cluster::{Cluster, Tls};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::context::{Ctx, UsageError};
use crate::secrets::write_private;

/// Where ha's HAProxy reads the certificate (templates/haproxy.cfg.j2 names it too).
pub(crate) const CONTAINER_DIR: &str = "/etc/haproxy/tls";
pub(crate) const CONTAINER_FILE: &str = "server.pem";

pub(crate) fn dir(ctx: &Ctx, cluster: &Cluster) -> PathBuf {
    ctx.path(".state").join(&cluster.project).join("tls")
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

/// The project's CA (ca.pem) and server certificate + key (server.pem), made once; the
/// CA's key is not kept, so nothing else can ever be signed with it.
fn ensure_generated(ctx: &Ctx, cluster: &Cluster) -> anyhow::Result<Vec<u8>> {
    let dir = dir(ctx, cluster);
    let (ca, server) = (dir.join("ca.pem"), dir.join(CONTAINER_FILE));
    if ca.is_file() {
        if let Ok(pem) = std::fs::read(&server) {
            return Ok(pem);
        }
    }
    let (ca_pem, server_pem) =
        generate(cluster).context("generating the project's TLS certificate")?;
    write_private(&server, &server_pem)?;
    write_private(&ca, ca_pem.as_bytes())?;
    Ok(server_pem)
}

fn generate(cluster: &Cluster) -> Result<(String, Vec<u8>), rcgen::Error> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.distinguished_name.push(
        DnType::CommonName,
        format!("lbkit {} local CA", cluster.project),
    );
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    // The names a client on this host uses: the bind address, localhost, ha's name.
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        cluster.ha.name.clone(),
    ];
    if !cluster.ha.bind.is_unspecified() && !names.contains(&cluster.ha.bind.to_string()) {
        names.push(cluster.ha.bind.to_string());
    }
    let mut params = CertificateParams::new(names)?;
    params
        .distinguished_name
        .push(DnType::CommonName, cluster.ha.name.clone());
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    let server = chain_and_key(&cert.pem(), &key.serialize_pem());
    Ok((ca_cert.pem(), server))
}
