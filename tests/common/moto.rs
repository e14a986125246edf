//! A moto server per test (see `tests/harness/moto_launcher.py`): isolated state, fault
//! injection and a call log; stopped when dropped.
//!
//! Servers are forked from a zygote that has already imported moto (about 3 s of CPU saved per
//! test): the first test of a run starts it, every test asks it for a fresh server over a Unix
//! socket whose name carries a digest of the harness sources. Where no zygote can be had, the
//! launcher is started directly.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_smithy_types::retry::RetryConfig;
use serde_json::Value;

/// Root of the repository.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `tests/harness/bootstrap.sh <what>` and returns the path it prints.
pub fn bootstrap(what: &str) -> PathBuf {
    let out = Command::new(repo_root().join("tests/harness/bootstrap.sh"))
        .arg(what)
        .stderr(Stdio::inherit())
        .output()
        .expect("bootstrap.sh runs");
    assert!(out.status.success(), "bootstrap {what} failed");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// One call seen by the emulator.
#[derive(Clone, Debug)]
pub struct Call {
    pub service: String,
    pub operation: String,
    pub region: String,
    pub account: String,
    pub injected: bool,
    /// CloudFormation's `CallAs` parameter, when sent.
    pub call_as: Option<String>,
    /// Request body, kept for `PutEvents`, `SendCommand`, `SendMessage(Batch)` and
    /// `DeleteStackInstances` only.
    pub body: Option<String>,
}

/// How the emulator of a test runs.
enum Server {
    /// Started by this process; stops when its standard input closes or it is killed.
    Child(Child),
    /// Forked by the zygote: this process id.
    Forked(u32),
}

/// A running emulator.
pub struct Moto {
    server: Server,
    pub port: u16,
}

/// The zygote's socket: one per checkout and harness version (a digest of the checkout's path
/// and `tests/harness/*.py`).
fn zygote_socket() -> PathBuf {
    let harness = repo_root().join("tests/harness");
    let mut sources: Vec<PathBuf> = std::fs::read_dir(&harness)
        .map(|dir| dir.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    sources.retain(|p| p.extension().is_some_and(|e| e == "py"));
    sources.sort();
    // The checkout's own path too: two checkouts never share a zygote (nor its virtualenv).
    let mut digest: u64 = 0xcbf2_9ce4_8422_2325;
    let checkout = repo_root().to_string_lossy().as_bytes().to_vec();
    for byte in checkout.into_iter().chain(sources.iter().flat_map(|p| std::fs::read(p).unwrap_or_default())) {
        digest = (digest ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3);
    }
    std::env::temp_dir().join(format!("mdc-moto-{digest:016x}.sock"))
}

/// Asks the zygote for a fresh emulator: (port, pid).
fn fork_from_zygote(socket: &Path) -> Option<(u16, u32)> {
    let mut stream = UnixStream::connect(socket).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
    writeln!(stream, "{}", std::process::id()).ok()?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).ok()?;
    let mut words = line.split_whitespace();
    (words.next() == Some("READY")).then_some(())?;
    Some((words.next()?.parse().ok()?, words.next()?.parse().ok()?))
}

impl Moto {
    /// Starts a fresh server on a free loopback port.
    pub fn start() -> Moto {
        let socket = zygote_socket();
        if let Some((port, pid)) = fork_from_zygote(&socket) {
            return Moto { server: Server::Forked(pid), port };
        }
        let python = bootstrap("moto");
        // Detached: it outlives this test and serves the others of the run (it exits when idle).
        // Its output goes to a log beside the socket, never to this process's pipes, which a
        // lingering zygote would otherwise hold open.
        let log = std::fs::OpenOptions::new().create(true).append(true).open(socket.with_extension("log"));
        let started = Command::new(&python)
            .arg(repo_root().join("tests/harness/moto_launcher.py"))
            .arg("--zygote")
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log.map_or_else(|_| Stdio::null(), Stdio::from))
            .spawn();
        if started.is_ok() {
            let until = Instant::now() + Duration::from_secs(60);
            while Instant::now() < until {
                if let Some((port, pid)) = fork_from_zygote(&socket) {
                    return Moto { server: Server::Forked(pid), port };
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Moto::start_direct(&python)
    }

    /// Starts the launcher as a child of this process.
    fn start_direct(python: &Path) -> Moto {
        let mut child = Command::new(python)
            .arg(repo_root().join("tests/harness/moto_launcher.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("moto launcher starts");
        let stdout = child.stdout.take().expect("stdout piped");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("launcher prints READY");
        let port = line
            .trim()
            .strip_prefix("READY ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected launcher output {line:?}"));
        Moto { server: Server::Child(child), port }
    }

    /// `http://127.0.0.1:<port>`
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// SDK config of the management account (moto's default account), as the function gets it.
    pub async fn management_config(&self) -> SdkConfig {
        self.config_with(Credentials::new("testing", "testing", None, None, "test")).await
    }

    async fn config_with(&self, credentials: Credentials) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(self.endpoint())
            .region(Region::new("us-east-1"))
            .credentials_provider(credentials)
            .retry_config(
                RetryConfig::standard().with_max_attempts(6).with_initial_backoff(std::time::Duration::from_millis(20)),
            )
            .load()
            .await
    }

    /// SDK config acting in `account_id` (for seeding and reading state).
    pub async fn account_config(&self, account_id: &str) -> SdkConfig {
        self.role_session_config(account_id, "test-admin", "test-seed").await
    }

    /// SDK config of a session of role `role` in `account_id` named `session` (the role need not
    /// exist: the emulator evaluates trust only for roles it has).
    pub async fn role_session_config(&self, account_id: &str, role: &str, session: &str) -> SdkConfig {
        let management = self.management_config().await;
        let out = aws_sdk_sts::Client::new(&management)
            .assume_role()
            .role_arn(format!("arn:aws:iam::{account_id}:role/{role}"))
            .role_session_name(session)
            .send()
            .await
            .expect("assume role for seeding");
        let c = out.credentials().expect("credentials");
        self.config_with(Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            None,
            "seed",
        ))
        .await
    }

    /// Replaces the fault rules.
    pub fn faults(&self, rules: Value) {
        self.request("POST", "/_harness/faults", Some(&serde_json::json!({ "rules": rules })));
    }

    /// Makes `ListStackInstances` report one instance as a failed deployment leaves it, until an
    /// `UpdateStackInstances` covering it succeeds.
    pub fn unhealthy_stack_instance(&self, account: &str, region: &str, status: &str, reason: &str) {
        let spec = serde_json::json!({"account": account, "region": region, "status": status, "detailedStatus": "FAILED", "reason": reason});
        self.request("POST", "/_harness/stack-instance-status", Some(&spec));
    }

    /// Makes StackSet operations fail in these (account, region, reason) targets, as a missing
    /// execution role or a template error does in AWS (see `tests/harness/stackset_model.py`).
    pub fn stackset_failures(&self, failures: &[(&str, &str, &str)]) {
        let failures: Vec<Value> = failures
            .iter()
            .map(
                |(account, region, reason)| serde_json::json!({"account": account, "region": region, "reason": reason}),
            )
            .collect();
        self.request("POST", "/_harness/stackset-failures", Some(&serde_json::json!({ "failures": failures })));
    }

    /// New StackSet operations stay `RUNNING` for their first `polls` status reads.
    pub fn stackset_running_polls(&self, polls: u32) {
        self.request("POST", "/_harness/stackset-operations", Some(&serde_json::json!({ "runningPolls": polls })));
    }

    /// Ends every StackSet operation still running, as time would (whether polled or not).
    pub fn stackset_finish_running(&self) {
        self.request("POST", "/_harness/stackset-operations", Some(&serde_json::json!({ "finishRunning": true })));
    }

    /// The SQS messages sent (SendMessage and SendMessageBatch entries), in order: `(queue url,
    /// body as JSON, delay seconds)`.
    pub fn sent_messages(&self) -> Vec<(String, serde_json::Value, i64)> {
        let mut out = Vec::new();
        for call in self.calls().iter().filter(|c| c.operation.starts_with("SendMessage")) {
            let Some(request) = call.body.as_deref().and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok())
            else {
                continue;
            };
            let url = request["QueueUrl"].as_str().unwrap_or_default().to_string();
            let entries = request["Entries"].as_array().cloned().unwrap_or_else(|| vec![request.clone()]);
            for entry in entries {
                let body = entry["MessageBody"].as_str().and_then(|b| serde_json::from_str(b).ok()).unwrap_or_default();
                out.push((url.clone(), body, entry["DelaySeconds"].as_i64().unwrap_or(0)));
            }
        }
        out
    }

    /// Regions not enabled (opt-in regions not opted in) in `account`.
    pub fn disabled_regions(&self, account: &str, regions: &[&str]) {
        let spec = serde_json::json!({"account": account, "disabled": regions});
        self.request("POST", "/_harness/regions", Some(&spec));
    }

    /// EC2 reports `instance` of `account` in `region` as launched `minutes_ago` (time passing).
    pub fn launched(&self, account: &str, region: &str, instance: &str, minutes_ago: f64) {
        let spec = serde_json::json!({"account": account, "region": region, "instanceId": instance, "minutesAgo": minutes_ago});
        let answer = self.request("POST", "/_harness/ec2-launch-time", Some(&spec));
        assert_eq!(answer["changed"], 1, "no instance {instance} in {account} {region}");
    }

    /// DHMC's service setting of `account` in `region` last changed `minutes_ago` (time passing).
    pub fn dhmc_changed(&self, account: &str, region: &str, minutes_ago: f64) {
        let spec = serde_json::json!({"account": account, "region": region, "minutesAgo": minutes_ago});
        let answer = self.request("POST", "/_harness/ssm-setting-age", Some(&spec));
        assert_eq!(answer["changed"], 1, "DHMC is not on in {account} {region}");
    }

    /// Instance profiles are refused by EC2 for `seconds` after IAM creates them.
    pub fn iam_propagation(&self, seconds: f64) {
        self.request("POST", "/_harness/iam-propagation", Some(&serde_json::json!({ "seconds": seconds })));
    }

    /// Instances given a profile are listed by Systems Manager only `seconds` later (the agent's
    /// registration lag).
    pub fn ssm_registration(&self, seconds: f64) {
        self.request("POST", "/_harness/ssm-registration", Some(&serde_json::json!({ "seconds": seconds })));
    }

    /// Token buckets per (account, region), as EC2 throttles: `[{"service":"ec2","operation":
    /// "AssociateIamInstanceProfile","capacity":100,"rate":5}]`.
    pub fn token_buckets(&self, rules: Value) {
        self.request("POST", "/_harness/token-buckets", Some(&serde_json::json!({ "rules": rules })));
    }

    /// Shows `stack_id` in `status` (`DELETE_IN_PROGRESS`, `ROLLBACK_IN_PROGRESS`, ...), as
    /// CloudFormation does while it calls a custom resource.
    pub fn stack_status(&self, stack_id: &str, status: &str) {
        let changed = self.request(
            "POST",
            "/_harness/stack-status",
            Some(&serde_json::json!({"stackId": stack_id, "status": status})),
        );
        assert_eq!(changed["changed"], 1, "no stack {stack_id}");
    }

    /// Gives `account` the Lambda concurrency quota `limit` (all unreserved), as a new account's.
    pub fn lambda_concurrency(&self, account: &str, limit: u32) {
        let spec = serde_json::json!({ "account": account, "limit": limit });
        self.request("POST", "/_harness/lambda-concurrency", Some(&spec));
    }

    /// Registers `account` as the organization's StackSets delegated administrator.
    pub fn delegated_admin(&self, account: &str) {
        self.request("POST", "/_harness/delegated-admin", Some(&serde_json::json!({ "account": account })));
    }

    /// Chooses Run Command outcomes (see `tests/harness/ssm_model.py`): rules like
    /// `{"instanceId": "i-...", "status": "Failed", "output": "...", "pendingReads": 2, "missingReads": 1}`.
    pub fn ssm_outcomes(&self, rules: Value) {
        self.request("POST", "/_harness/ssm-outcomes", Some(&serde_json::json!({ "rules": rules })));
    }

    /// The local Microsoft Entra authority (`https://localhost:<port>`, see
    /// `tests/harness/entra_model.py`), for `ARC_AUTHORITY_HOST`. Its certificate is signed by the
    /// test CA `tests/harness/entra/ca.pem`, which the test process must trust through
    /// `SSL_CERT_FILE` (`scripts/test` sets it).
    pub fn entra_authority(&self) -> String {
        let trusted = std::env::var("SSL_CERT_FILE")
            .ok()
            .and_then(|path| std::fs::read_to_string(path).ok())
            .zip(std::fs::read_to_string(repo_root().join("tests/harness/entra/ca.pem")).ok())
            .is_some_and(|(bundle, ca)| bundle.contains(ca.trim()));
        assert!(trusted, "SSL_CERT_FILE must include tests/harness/entra/ca.pem: run the tests with scripts/test");
        let report = self.request("GET", "/_harness/entra", None);
        report["authority"].as_str().expect("entra authority").to_string()
    }

    /// Configures the Entra endpoint: `{"clients": {"<client id>": "<secret>"}, "federated":
    /// {"<client id>": [{"issuer", "subject", "audiences"}]}, "lifetime": 3600, "clockOffset": 0,
    /// "fail": "AADSTS...: ..."}`.
    pub fn entra(&self, spec: Value) {
        self.request("POST", "/_harness/entra", Some(&spec));
    }

    /// Azure Resource Manager of the emulator (`tests/harness/arm_model.py`): `{"machines": [...],
    /// "throttle": n, "pageSize": n}` adds Arc machines or throttles the next requests.
    pub fn arm(&self, spec: Value) {
        self.request("POST", "/_harness/arm", Some(&spec));
    }

    /// The Arc machines left, every delete and the request counts.
    pub fn arm_state(&self) -> Value {
        self.request("GET", "/_harness/arm", None)
    }

    /// Outbound identity federation: `{"issuers": {account: url}, "tokens": [{"account",
    /// "subject", "audiences", "durationSeconds", "region"}]}`.
    pub fn federation(&self) -> Value {
        self.request("GET", "/_harness/federation", None)
    }

    /// Token requests the Entra endpoint saw: `{"tenant", "clientId", "scope", "credential"
    /// ("secret" or "assertion"), "granted"}`.
    pub fn entra_requests(&self) -> Vec<Value> {
        self.request("GET", "/_harness/entra", None)["requests"].as_array().cloned().unwrap_or_default()
    }

    /// The access tokens the emulator's Entra endpoint issued, oldest first.
    pub fn entra_tokens(&self) -> Vec<String> {
        let requests = self.entra_requests();
        requests.iter().filter_map(|r| r["token"].as_str().map(String::from)).collect()
    }

    /// Fault rules with their counters.
    pub fn fault_report(&self) -> Value {
        self.request("GET", "/_harness/faults", None)
    }

    /// Clears the call log.
    pub fn clear_calls(&self) {
        self.request("DELETE", "/_harness/calls", None);
    }

    /// Every call since the last clear.
    pub fn calls(&self) -> Vec<Call> {
        let log = self.request("GET", "/_harness/calls", None);
        let text = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_string();
        log["calls"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|c| Call {
                service: text(c, "service"),
                operation: text(c, "operation"),
                region: text(c, "region"),
                account: text(c, "account"),
                injected: c["injected"].as_bool().unwrap_or(false),
                call_as: c["callAs"].as_str().map(String::from),
                body: c["body"].as_str().map(String::from),
            })
            .collect()
    }

    /// Creates S3 bucket `name` in the management account (unsigned, path-style: moto takes an
    /// unsigned request for S3), e.g. for a CloudTrail trail.
    pub fn s3_bucket(&self, name: &str) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to moto");
        write!(stream, "PUT /{name} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n").expect("send");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read");
        assert!(response.starts_with("HTTP/1.0 200") || response.starts_with("HTTP/1.1 200"), "{response}");
    }

    fn request(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to moto");
        write!(
            stream,
            "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .expect("send");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read");
        let payload = response.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
        serde_json::from_str(payload).unwrap_or_else(|e| panic!("bad harness answer {response:?}: {e}"))
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        match &mut self.server {
            Server::Child(child) => {
                let _ = child.kill();
                let _ = child.wait();
            }
            Server::Forked(pid) => {
                let _ = Command::new("kill").arg(pid.to_string()).stderr(Stdio::null()).status();
            }
        }
    }
}

/// Reads a fixture from `tests/events/`.
pub fn event(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/events").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
