//! `[webapps] build`: the context sent to the engine is what the docker CLI would send
//! (its `.dockerignore` applied: patterns, `**`, `!` exceptions), so the image holds
//! exactly what `docker build` would put in it, and a large excluded folder is never sent.
mod support;

use std::collections::BTreeSet;
use std::path::Path;

use support::{docker, Stack};

/// The files and folders under /ctx in `image`.
fn listed(image: &str) -> BTreeSet<String> {
    let out = docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--entrypoint",
        "find",
        image,
        "/ctx",
        "-mindepth",
        "1",
        "-printf",
        "%P\\n",
    ]);
    out.assert_success();
    out.stdout_text().lines().map(String::from).collect()
}

fn write(root: &Path, path: &str, contents: &[u8]) {
    let path = root.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, contents).unwrap();
}

#[test]
fn the_context_is_what_docker_build_would_send() {
    if support::skip_without_engine() {
        return;
    }
    let stack = Stack::with("e2e-context", 85, 1, |text| {
        format!("{text}build = \"app\"\n")
    });
    let _images = support::DropImages(&stack);
    let app = stack.config.parent().unwrap().join("app");
    write(
        &app,
        "Dockerfile",
        b"ARG BASE\nFROM ${BASE}\nCOPY . /ctx/\n",
    );
    write(
        &app,
        ".dockerignore",
        b"# secrets and bulk stay home\nsecret.env\n/big/\n**/*.log\n!keep.log\ndata\n!data/keep.txt\n.git\n",
    );
    write(&app, "secret.env", b"PASSWORD=hunter2\n");
    write(&app, "big/blob.bin", &vec![7u8; 64 << 20]);
    write(&app, "a.log", b"noise\n");
    write(&app, "src/deep/b.log", b"noise\n");
    write(&app, "keep.log", b"kept by an exception\n");
    write(&app, "data/x.bin", b"excluded\n");
    write(&app, "data/keep.txt", b"kept by an exception\n");
    write(&app, ".git/HEAD", b"ref: refs/heads/main\n");
    write(&app, "src/main.py", b"print('hi')\n");
    // A crate folder is the user's source here, not one of ours to skip.
    write(&app, "rust/Cargo.toml", b"[package]\n");

    let build = stack.xtask(&["build"]);
    build.assert_success();
    let out = build.stdout_text();
    let size_line = out
        .lines()
        .find(|l| l.starts_with("build context of the app: "))
        .unwrap_or_else(|| panic!("the context's size is printed: {out}"));
    let mb: f64 = size_line
        .trim_start_matches("build context of the app: ")
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(mb < 1.0, "the 64 MB folder was not sent: {size_line}");

    let ours = listed(&format!("{}/webapp", stack.name));
    let reference = format!("{}-reference", stack.name);
    let base = format!("{}/base", stack.name);
    let built = std::process::Command::new("docker")
        .args([
            "build",
            "-q",
            "--build-arg",
            &format!("BASE={base}"),
            "-t",
            &reference,
        ])
        .arg(&app)
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .expect("docker build");
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let theirs = listed(&reference);
    docker(&["rmi", &reference]).assert_success();
    assert_eq!(ours, theirs, "the same files as `docker build`");
    for present in [
        "keep.log",
        "data/keep.txt",
        "src/main.py",
        "rust/Cargo.toml",
    ] {
        assert!(ours.contains(present), "{present} in {ours:?}");
    }
    for absent in [
        "secret.env",
        "big",
        "a.log",
        "src/deep/b.log",
        "data/x.bin",
        ".git",
    ] {
        assert!(!ours.contains(absent), "{absent} in {ours:?}");
    }
}
