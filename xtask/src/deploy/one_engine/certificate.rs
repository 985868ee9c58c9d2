//! ha's certificate kept current in a running ha: when the one `up` would give a new ha
//! (the user's files replaced in place, a renewal) differs from the one ha serves, it is
//! put in place and HAProxy reloads (hitless by default: the master hands its sockets to
//! a new worker that reads it). Compared by the certificates (public), never by reading
//! the key back; a reload that fails puts the previous file back, so the old certificate
//! keeps serving and the next `up` tries again.
use cluster::Cluster;

use crate::context::Ctx;
use crate::engine::{Engine, FileUpload};
use crate::tls;

pub(crate) async fn refresh(ctx: &Ctx, engine: &Engine, cluster: &Cluster) -> anyhow::Result<()> {
    let Some(pem) = tls::server_pem(ctx, cluster)? else {
        return Ok(());
    };
    let ha = &cluster.ha.name;
    if !engine.is_container_running(ha).await? {
        return Ok(());
    }
    let path = format!("{}/{}", tls::CONTAINER_DIR, tls::CONTAINER_FILE);
    let served = engine.exec(ha, &["sed", "-n", CERTIFICATES, &path]).await?;
    if served.exit_code == 0 && served.stdout == certificates(&String::from_utf8_lossy(&pem)) {
        return Ok(());
    }
    // The key goes to the engine: only over a private link.
    engine.ensure_private_transport()?;
    let previous = format!("{path}.previous");
    let kept = engine.exec(ha, &["cp", "-p", &path, &previous]).await?;
    anyhow::ensure!(
        kept.exit_code == 0,
        "{ha}: keeping its certificate aside before the new one: {}",
        cluster::escape_control(kept.stderr.trim())
    );
    upload(engine, ha, &pem).await?;
    let reload = engine.exec(ha, &["ha-agent", "reload"]).await?;
    if reload.exit_code != 0 {
        engine.exec(ha, &["mv", &previous, &path]).await?;
        anyhow::bail!(
            "{ha} did not reload with its new certificate; the old one keeps serving: {}",
            cluster::escape_control(reload.stderr.trim())
        );
    }
    engine.exec(ha, &["rm", "-f", &previous]).await?;
    println!(
        "{ha}: new certificate in place, applied by a {} reload",
        cluster.ha.reload.as_str()
    );
    Ok(())
}

/// sed's script printing only the PEM certificate blocks of a file.
const CERTIFICATES: &str = "/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p";

/// The PEM certificate blocks of `pem`, as [`CERTIFICATES`] prints them.
fn certificates(pem: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in pem.lines() {
        if line.starts_with("-----BEGIN CERTIFICATE-----") {
            inside = true;
        }
        if inside {
            out.push_str(line);
            out.push('\n');
        }
        if line.starts_with("-----END CERTIFICATE-----") {
            inside = false;
        }
    }
    out
}

/// Puts `pem` (chain + key) where ha's HAProxy reads it, root-only.
pub(super) async fn upload(engine: &Engine, ha: &str, pem: &[u8]) -> anyhow::Result<()> {
    let upload = FileUpload {
        dir: tls::CONTAINER_DIR,
        name: tls::CONTAINER_FILE,
        contents: pem,
        mode: 0o600,
    };
    engine.upload_file(ha, &upload).await
}

#[cfg(test)]
mod tests {
    use super::certificates;

    #[test]
    fn only_the_certificate_blocks_are_compared() {
        let pem = "-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nBBB\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nSECRET\n-----END PRIVATE KEY-----\n";
        let certs = certificates(pem);
        assert!(certs.contains("AAA") && certs.contains("BBB"));
        assert!(!certs.contains("SECRET") && !certs.contains("PRIVATE"));
    }
}
