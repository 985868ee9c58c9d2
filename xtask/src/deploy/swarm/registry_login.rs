//! The login `docker login` keeps for `deploy.registry`: sent with each push and with the
//! services' specs (as `docker stack deploy --with-registry-auth` does), so every node can
//! pull. Read where the docker CLI keeps it (`$DOCKER_CONFIG/config.json`, else
//! `~/.docker/config.json`): a credential helper (`credHelpers`, `credsStore`) or the
//! `auths` entry. We never write it anywhere.
use anyhow::Context as _;
use base64::Engine as _;
use bollard::auth::DockerCredentials;
use cluster::Cluster;
use serde_json::Value;
use xshell::cmd;

use crate::context::Ctx;

/// The login for the cluster's registry; None without `deploy.registry` or without a
/// login for it (an open registry).
pub(crate) fn for_cluster(
    ctx: &Ctx,
    cluster: &Cluster,
) -> anyhow::Result<Option<DockerCredentials>> {
    let Some(registry) = &cluster.deploy.registry else {
        return Ok(None);
    };
    let host = login_key(registry_host(registry));
    let Some((path, config)) = crate::docker_config::read()? else {
        return Ok(None);
    };
    match lookup(&config, host)
        .with_context(|| format!("reading the login for {host} in {}", path.display()))?
    {
        Lookup::None => Ok(None),
        Lookup::Found(credentials) => Ok(Some(credentials)),
        Lookup::Helper(helper) => from_helper(ctx, &helper, host),
    }
}

/// Docker Hub's logins are kept under its old index address, as `docker login` keeps them.
fn login_key(host: &str) -> &str {
    match host {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => "https://index.docker.io/v1/",
        host => host,
    }
}

/// `registry.example:5000/team` -> `registry.example:5000`.
fn registry_host(registry: &str) -> &str {
    registry.split('/').next().unwrap_or(registry)
}

#[derive(Debug, PartialEq)]
enum Lookup {
    None,
    Found(DockerCredentials),
    /// `docker-credential-<name>` keeps it.
    Helper(String),
}

/// Where the docker CLI would find the login for `host`: its helper for that host, its
/// store for every host, or its `auths` entry (keyed `host`, `https://host/v1/`, ...).
fn lookup(config: &Value, host: &str) -> anyhow::Result<Lookup> {
    if let Some(helper) = config["credHelpers"][host].as_str() {
        return Ok(Lookup::Helper(helper.to_string()));
    }
    if let Some(store) = config["credsStore"].as_str().filter(|s| !s.is_empty()) {
        return Ok(Lookup::Helper(store.to_string()));
    }
    let Some(auths) = config["auths"].as_object() else {
        return Ok(Lookup::None);
    };
    // An entry under the host itself first, as the docker CLI looks.
    let exact = auths.get(host);
    let entry = exact.or_else(|| {
        auths.iter().find_map(|(key, entry)| {
            let key = key
                .trim_start_matches("https://")
                .trim_start_matches("http://");
            (registry_host(key) == host).then_some(entry)
        })
    });
    let Some(entry) = entry else {
        return Ok(Lookup::None);
    };
    if let Some(token) = entry["identitytoken"].as_str().filter(|t| !t.is_empty()) {
        return Ok(Lookup::Found(token_login(host, token)));
    }
    let Some(auth) = entry["auth"].as_str().filter(|a| !a.is_empty()) else {
        return Ok(Lookup::None);
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth)
        .context("its auth is not base64")?;
    let decoded = String::from_utf8(decoded).context("its auth is not text")?;
    let (username, password) = decoded
        .split_once(':')
        .context("its auth is not user:password")?;
    Ok(Lookup::Found(password_login(host, username, password)))
}

fn token_login(host: &str, token: &str) -> DockerCredentials {
    DockerCredentials {
        identitytoken: Some(token.to_string()),
        serveraddress: Some(host.to_string()),
        ..Default::default()
    }
}

fn password_login(host: &str, username: &str, password: &str) -> DockerCredentials {
    DockerCredentials {
        username: Some(username.to_string()),
        password: Some(password.to_string()),
        serveraddress: Some(host.to_string()),
        ..Default::default()
    }
}

/// `docker-credential-<helper> get`, the host on stdin, as the docker CLI asks it.
fn from_helper(ctx: &Ctx, helper: &str, host: &str) -> anyhow::Result<Option<DockerCredentials>> {
    let program = format!("docker-credential-{helper}");
    let output = cmd!(ctx.sh, "{program} get")
        .stdin(host)
        .ignore_status()
        .quiet()
        .output()
        .with_context(|| format!("running {program}, the docker CLI's credential helper"))?;
    if !output.status.success() {
        // What the helpers say when they keep nothing for the host: an open registry.
        let said = String::from_utf8_lossy(&output.stdout).to_string()
            + &String::from_utf8_lossy(&output.stderr);
        if said.contains("credentials not found") {
            return Ok(None);
        }
        anyhow::bail!("{program} get {host}: {}", said.trim());
    }
    let answer: Value = serde_json::from_slice(&output.stdout)
        .with_context(|| format!("parsing what {program} answered for {host}"))?;
    let username = answer["Username"].as_str().unwrap_or_default();
    let secret = answer["Secret"].as_str().unwrap_or_default();
    Ok(Some(if username == "<token>" {
        token_login(host, secret)
    } else {
        password_login(host, username, secret)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(username: &str, password: &str) -> Lookup {
        Lookup::Found(DockerCredentials {
            username: Some(username.into()),
            password: Some(password.into()),
            serveraddress: Some("reg.example:5000".into()),
            ..Default::default()
        })
    }

    #[test]
    fn finds_the_login_as_the_docker_cli_keeps_it() {
        let auth = base64::engine::general_purpose::STANDARD.encode("lab:s3:cret");
        let cases = [
            (serde_json::json!({}), Lookup::None),
            (
                serde_json::json!({"auths": {"reg.example:5000": {"auth": auth}}}),
                found("lab", "s3:cret"),
            ),
            (
                serde_json::json!({"auths": {"https://reg.example:5000/v1/": {"auth": auth}}}),
                found("lab", "s3:cret"),
            ),
            (
                serde_json::json!({"auths": {"other.example": {"auth": auth}}}),
                Lookup::None,
            ),
            (
                serde_json::json!({"auths": {
                    "https://reg.example:5000": {"auth": "c3RhbGU6b2xk"},
                    "reg.example:5000": {"auth": auth},
                }}),
                found("lab", "s3:cret"),
            ),
            (
                serde_json::json!({"auths": {"reg.example:5000": {"identitytoken": "tok"}}}),
                Lookup::Found(DockerCredentials {
                    identitytoken: Some("tok".into()),
                    serveraddress: Some("reg.example:5000".into()),
                    ..Default::default()
                }),
            ),
            (
                serde_json::json!({"credsStore": "pass", "auths": {"reg.example:5000": {}}}),
                Lookup::Helper("pass".into()),
            ),
            (
                serde_json::json!({"credsStore": "pass", "credHelpers": {"reg.example:5000": "ecr-login"}}),
                Lookup::Helper("ecr-login".into()),
            ),
        ];
        for (config, expected) in cases {
            assert_eq!(
                lookup(&config, "reg.example:5000").unwrap(),
                expected,
                "{config}"
            );
        }
        assert_eq!(registry_host("reg.example:5000/team/x"), "reg.example:5000");
        assert_eq!(login_key("docker.io"), "https://index.docker.io/v1/");
        assert_eq!(login_key("reg.example:5000"), "reg.example:5000");
    }

    #[test]
    fn a_broken_auth_is_an_error() {
        let config = serde_json::json!({"auths": {"reg.example:5000": {"auth": "%%%"}}});
        assert!(lookup(&config, "reg.example:5000").is_err());
    }
}
