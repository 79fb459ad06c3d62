//! A throwaway Dovecot for the integration tests and `rapport bench imap`: loopback only,
//! every file under one folder, IMAP (and LMTP) on free ports, stopped when dropped. The
//! configuration is `dovecot-loopback.conf` beside this file (a copy of the one verified in
//! `../shared/data/peers`), with `@DIR@` and the fixed ports replaced.
//!
//! Dovecot runs as root here and writes mail as `nobody:nogroup`, so it needs root.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const TEMPLATE: &str = include_str!("dovecot-loopback.conf");

/// A running Dovecot.
pub struct Dovecot {
    dir: PathBuf,
    conf: PathBuf,
    /// The IMAP port (plain text, or STARTTLS when started with TLS; 127.0.0.1).
    pub port: u16,
    /// The IMAPS port (TLS from the first byte), when started with TLS.
    pub imaps_port: Option<u16>,
    running: bool,
}

impl Dovecot {
    /// Whether `dovecot` and `doveadm` can be run.
    pub fn installed() -> bool {
        let quiet = |program: &str, arg: &str| {
            Command::new(program)
                .arg(arg)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
        };
        // `doveadm` has no --version; that it runs at all is enough.
        quiet("dovecot", "--version").is_ok_and(|s| s.success()) && quiet("doveadm", "help").is_ok()
    }

    /// Starts Dovecot with everything under `dir` (an empty folder the caller owns), one
    /// user per (name, password), and `extra` appended to the configuration (for example
    /// `imap_capability = IMAP4rev1 UIDPLUS` to hide IDLE and MOVE). Returns once IMAP answers.
    pub fn start(dir: &Path, users: &[(&str, &str)], extra: &str) -> Result<Dovecot, String> {
        Dovecot::launch(dir, users, extra, None)
    }

    /// Like [`Dovecot::start`], with TLS: STARTTLS on `port` and TLS from the first byte
    /// (IMAPS) on `imaps_port`, both with this certificate and key (PEM files; the key must
    /// be readable by root only as far as Dovecot cares, it reads it while still root).
    pub fn start_with_tls(
        dir: &Path,
        users: &[(&str, &str)],
        extra: &str,
        cert: &Path,
        key: &Path,
    ) -> Result<Dovecot, String> {
        Dovecot::launch(dir, users, extra, Some((cert, key)))
    }

    fn launch(
        dir: &Path,
        users: &[(&str, &str)],
        extra: &str,
        tls: Option<(&Path, &Path)>,
    ) -> Result<Dovecot, String> {
        let dir = dir
            .canonicalize()
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        let text = dir
            .to_str()
            .ok_or_else(|| format!("{} is not UTF-8", dir.display()))?;
        let (imap_port, lmtp_port) = (free_port()?, free_port()?);
        let mut conf_text = TEMPLATE
            .replace("@DIR@", text)
            .replace("port = 10143", &format!("port = {imap_port}"))
            .replace("port = 10024", &format!("port = {lmtp_port}"));
        let mut imaps_port = None;
        if let Some((cert, key)) = tls {
            let port = free_port()?;
            imaps_port = Some(port);
            conf_text = conf_text.replace(
                "inet_listener imaps {\n    port = 0\n  }",
                &format!("inet_listener imaps {{\n    address = 127.0.0.1\n    port = {port}\n    ssl = yes\n  }}"),
            );
            if !conf_text.contains(&format!("port = {port}\n    ssl = yes")) {
                return Err("the Dovecot template has no imaps listener to enable".into());
            }
            conf_text.push_str(&format!(
                "\nssl = yes\nssl_cert = <{}\nssl_key = <{}\n",
                cert.display(),
                key.display()
            ));
        }
        let conf = dir.join("dovecot.conf");
        std::fs::write(&conf, format!("{conf_text}\n{extra}\n"))
            .map_err(|e| format!("writing {}: {e}", conf.display()))?;
        let lines: String = users
            .iter()
            .map(|(user, password)| format!("{user}:{{PLAIN}}{password}\n"))
            .collect();
        std::fs::write(dir.join("users"), lines).map_err(|e| format!("writing users: {e}"))?;
        std::fs::create_dir_all(dir.join("mail")).map_err(|e| format!("mail folder: {e}"))?;
        // Dovecot's own users must reach the files: the folder readable, the mail theirs.
        run(Command::new("chmod").args(["0755"]).arg(&dir))?;
        run(Command::new("chmod").args(["0644"]).arg(dir.join("users")))?;
        run(Command::new("chown")
            .args(["-R", "nobody:nogroup"])
            .arg(dir.join("mail")))?;
        let mut dovecot = Dovecot {
            dir: dir.clone(),
            conf,
            port: imap_port,
            imaps_port,
            running: false,
        };
        // The master daemonises and keeps the standard streams it was given: pipes would
        // never close, so it gets none (its messages go to dovecot.log).
        let started = Command::new("dovecot")
            .arg("-c")
            .arg(&dovecot.conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("dovecot: {e}"))?;
        if !started.success() {
            return Err(format!(
                "dovecot -c {} failed ({started})\n{}",
                dovecot.conf.display(),
                dovecot.log_tail()
            ));
        }
        dovecot.running = true;
        for _ in 0..100 {
            if greets(imap_port) {
                return Ok(dovecot);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!(
            "Dovecot did not answer on port {imap_port}\n{}",
            dovecot.log_tail()
        ))
    }

    /// Runs `doveadm` with this configuration; its standard output.
    pub fn doveadm(&self, args: &[&str], stdin: Option<&[u8]>) -> Result<String, String> {
        let mut child = Command::new("doveadm")
            .arg("-c")
            .arg(&self.conf)
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("doveadm: {e}"))?;
        if let (Some(bytes), Some(mut input)) = (stdin, child.stdin.take()) {
            input
                .write_all(bytes)
                .map_err(|e| format!("doveadm stdin: {e}"))?;
        }
        let output = child
            .wait_with_output()
            .map_err(|e| format!("doveadm: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "doveadm {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Appends a message to a user's folder (as a delivery would), without IMAP.
    pub fn save(&self, user: &str, folder: &str, raw: &[u8]) -> Result<(), String> {
        self.doveadm(&["save", "-u", user, "-m", folder], Some(raw))
            .map(|_| ())
    }

    pub fn create_folder(&self, user: &str, folder: &str) -> Result<(), String> {
        self.doveadm(&["mailbox", "create", "-u", user, folder], None)
            .map(|_| ())
    }

    /// A number from `doveadm mailbox status` (e.g. `messages`, `unseen`, `uidvalidity`).
    pub fn status(&self, user: &str, folder: &str, field: &str) -> Result<u64, String> {
        let out = self.doveadm(&["mailbox", "status", "-u", user, field, folder], None)?;
        let value = out
            .trim()
            .rsplit('=')
            .next()
            .unwrap_or_default()
            .trim()
            .to_string();
        value
            .parse()
            .map_err(|_| format!("doveadm mailbox status {field}: unexpected {out:?}"))
    }

    /// Writes messages straight into a user's INBOX Maildir (`new/`, as a local delivery
    /// agent does) and lets Dovecot index them: much faster than `save` for thousands.
    pub fn deliver_to_inbox(
        &self,
        user: &str,
        messages: impl IntoIterator<Item = Vec<u8>>,
    ) -> Result<usize, String> {
        let maildir = self.dir.join("mail").join(user).join("Maildir");
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(maildir.join(sub))
                .map_err(|e| format!("{}: {e}", maildir.display()))?;
        }
        let mut count = 0usize;
        for raw in messages {
            count += 1;
            let name = format!("{count}.M{count}P{}.rapport", std::process::id());
            std::fs::write(maildir.join("new").join(name), raw)
                .map_err(|e| format!("writing to {}: {e}", maildir.display()))?;
        }
        run(Command::new("chown")
            .args(["-R", "nobody:nogroup"])
            .arg(self.dir.join("mail")))?;
        self.status(user, "INBOX", "messages")?;
        Ok(count)
    }

    /// The last lines of Dovecot's log (for error messages).
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("dovecot.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Stops Dovecot and waits (a little) for its master process to go.
    pub fn stop(&mut self) {
        if !self.running {
            return;
        }
        self.running = false;
        let pid =
            std::fs::read_to_string(self.dir.join("run").join("master.pid")).unwrap_or_default();
        let _ = Command::new("doveadm")
            .arg("-c")
            .arg(&self.conf)
            .arg("stop")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let pid = pid.trim();
        if pid.is_empty() {
            return;
        }
        for _ in 0..50 {
            if !Path::new("/proc").join(pid).exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

fn greets(port: u16) -> bool {
    use std::io::Read;
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0u8; 64];
    matches!(stream.read(&mut buf), Ok(n) if buf[..n].starts_with(b"* OK"))
}

fn run(command: &mut Command) -> Result<(), String> {
    let output = command.output().map_err(|e| format!("{command:?}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{command:?}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}
