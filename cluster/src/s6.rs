//! The s6 services the toolkit hands the container that runs a webapp's Serf agent (the
//! webapp itself when it is built on the base, an app image's sidecar otherwise), before
//! it starts: `up` uploads them, the compose file mounts them from the files `gen` writes
//! next to it.
use crate::model::{AppMode, Cluster};

/// The s6 service that runs `[webapps] command` in a webapp built on our base, as an
/// unprivileged user. Each argument is single-quoted: no word of it is shell syntax.
fn app_service(command: &[String]) -> String {
    let quoted: Vec<String> = command
        .iter()
        .map(|arg| format!("'{}'", arg.replace('\'', r"'\''")))
        .collect();
    format!(
        "#!/bin/sh\n# The app, from [webapps] command in cluster.toml (handed over by `cargo xtask up` or `gen`).\nexec 2>&1\nexec s6-setuidgid nobody {}\n",
        quoted.join(" ")
    )
}

/// The sidecar's watch on its app. It has no Docker socket (and must not): it probes the
/// app's port at the app's address (fixed, no DNS asked). Serf starts only once the app
/// answers (its service is created down), leaves after three missed probes, and joins
/// again when the app answers again: the sidecar itself keeps running, so neither a hung
/// app nor one in Docker's restart back-off is put back in rotation by a restart.
const APP_WATCH: &str = r#"#!/bin/bash
# Handed over by `cargo xtask up` or `gen`: Serf runs while the app answers.
exec 2>&1
seen=0 fails=0
while sleep 1; do
  if timeout 1 bash -c "</dev/tcp/$APP_HOST/$NODE_PORT" 2>/dev/null; then
    fails=0
    if [ "$seen" = 0 ]; then
      seen=1
      echo "app-watch: the app answers on $APP_HOST:$NODE_PORT; joining the cluster"
      s6-svc -u /etc/s6/serf
    fi
  elif [ "$seen" = 1 ]; then
    fails=$((fails + 1))
    if [ "$fails" -ge 3 ]; then
      echo "app-watch: the app stopped answering on $APP_HOST:$NODE_PORT; leaving the cluster"
      s6-svc -d /etc/s6/serf
      seen=0 fails=0
    fi
  fi
done
"#;

/// Where the s6 service files go: the container's scan directory.
pub const S6_DIR: &str = "/etc/s6";

/// An s6 service file handed to a container: its path under [`S6_DIR`] and contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S6File {
    pub path: &'static str,
    pub contents: String,
}

impl S6File {
    /// A `run` script is executed by s6; a `down` file only has to exist.
    pub fn executable(&self) -> bool {
        self.path.ends_with("/run")
    }
}

impl Cluster {
    /// True when webapps run an unchanged image, their Serf agent in a sidecar.
    pub fn has_sidecar(&self) -> bool {
        matches!(self.webapps.mode(), AppMode::Image(_))
    }

    /// The s6 service files this cluster's (or service view's) webapps need handed to
    /// the container running their Serf agent.
    pub fn supplied_s6_files(&self) -> Vec<S6File> {
        let file = |path, contents| S6File { path, contents };
        match self.webapps.mode() {
            AppMode::Build(_) if !self.webapps.command.is_empty() => {
                vec![file("app/run", app_service(&self.webapps.command))]
            }
            // Serf starts down: app-watch brings it up once the app answers.
            AppMode::Image(_) => vec![
                file("app-watch/run", APP_WATCH.to_string()),
                file("serf/down", String::new()),
            ],
            AppMode::Build(_) | AppMode::Lab => Vec::new(),
        }
    }

    /// Where `gen` writes the supplied files for the compose file to mount, relative to
    /// it: one folder per service (`webapps` for the default one).
    pub fn compose_s6_file(&self, file: &S6File) -> String {
        let service = self.view.as_ref().map_or("webapps", |v| v.service.as_str());
        format!("./s6/{service}/{}", file.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_words_stay_words() {
        let run = app_service(&["python3".into(), "-c".into(), "print('hi'); x=$HOME".into()]);
        assert!(run
            .ends_with("exec s6-setuidgid nobody 'python3' '-c' 'print('\\''hi'\\''); x=$HOME'\n"));
    }

    #[test]
    fn an_app_image_gets_the_watch_and_serf_down() {
        let cluster =
            crate::parse("[webapps]\nimage = \"nginx:local\"\nport = 80\n", "c.toml").unwrap();
        let files = cluster.supplied_s6_files();
        let paths: Vec<&str> = files.iter().map(|f| f.path).collect();
        assert_eq!(paths, ["app-watch/run", "serf/down"]);
        assert!(files[0].executable() && !files[1].executable());
        assert_eq!(
            cluster.compose_s6_file(&files[0]),
            "./s6/webapps/app-watch/run"
        );
        let lab = crate::parse("", "c.toml").unwrap();
        assert!(lab.supplied_s6_files().is_empty());
    }
}
