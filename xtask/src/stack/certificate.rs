//! ha's certificate kept current in a running ha: when the one `up` would give a new ha
//! (the user's files replaced in place, a renewal) differs from the one ha serves, it is
//! put in place and HAProxy reloads hitlessly (the master hands its sockets to a new
//! worker that reads it). Compared by contents, not paths.
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
    let served = engine.exec(ha, &["cat", &path]).await?;
    if served.exit_code == 0 && served.stdout.as_bytes() == pem.as_slice() {
        return Ok(());
    }
    upload(engine, ha, &pem).await?;
    let reload = engine.exec(ha, &["ha-agent", "reload"]).await?;
    anyhow::ensure!(
        reload.exit_code == 0,
        "{ha} did not reload with its new certificate (the old one keeps serving): {}",
        cluster::escape_control(reload.stderr.trim())
    );
    println!("{ha}: new certificate in place, applied by a hitless reload");
    Ok(())
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
