//! `zhishu users`, `zhishu keys` and `zhishu audit`: administration on the
//! server itself, straight against the configured stores. Every change and
//! every audit query is written to the audit trail as `system:cli`.

use crate::cli::{AuditCommand, AuditFilterArgs, ExportFormat, KeysCommand, UsersCommand};
use anyhow::{Context, Result, bail};
use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;
use zhishu_audit::{
    Actor, AuditEvent, AuditLog, CSV_HEADER, Outcome, csv_line, jsonl_line, parse_time, rfc3339,
    verify,
};
use zhishu_auth::{hash_password, new_api_key};
use zhishu_core::{Config, Role};
use zhishu_query::exchange::PUBLIC_GROUP;
use zhishu_query::{Asker, Exchanges, Rag, Via};
use zhishu_store::{
    AuditFilter, AuditStore, IdentityStore, NewApiKey, NewUser, Repository, SqlStore, StoreError,
};

/// The stores a command works on.
pub(crate) struct Ctx {
    pub(crate) store: SqlStore,
    audit: AuditLog,
}

/// The guards as configured, for a command that asks or searches.
pub(crate) fn guard(config: &Config) -> Result<Arc<zhishu_guard::Guard>> {
    Ok(Arc::new(zhishu_guard::Guard::new(&config.guard).context(
        "the guards cannot start, so nothing is answered; fix the lexicon or injection model named above (guard.lexicons, guard.injection_model)",
    )?))
}

impl Ctx {
    pub(crate) async fn open(config: &Config) -> Result<Self> {
        let store = SqlStore::connect(&config.database).await.with_context(|| {
            format!(
                "cannot open the database {}",
                config.database.redacted_url()
            )
        })?;
        let repo: Arc<dyn Repository> = Arc::new(store.clone());
        Ok(Self {
            audit: AuditLog::start(repo, 16),
            store,
        })
    }

    /// The operator at this terminal as the exchange service knows them,
    /// asking as exactly `groups` (by default the public group alone).
    pub(crate) fn asker(&self, groups: &[String]) -> Asker {
        let mut actor = cli_actor();
        actor.groups = if groups.is_empty() {
            vec![PUBLIC_GROUP.to_owned()]
        } else {
            groups.to_vec()
        };
        Asker {
            actor,
            client_addr: None,
            request_id: None,
            owner: None,
            via: Via::Cli,
            public: false,
        }
    }

    /// The exchange service of this command, over `rag` when it loaded a
    /// model. Its node is this process: a command's exchanges are never
    /// closed by a server's start-up, only by age.
    ///
    /// # Errors
    /// When the guards cannot load their lexicons.
    pub(crate) fn exchanges(&self, config: &Config, rag: Option<Arc<Rag>>) -> Result<Exchanges> {
        Ok(Exchanges::new(
            rag,
            self.audit.clone(),
            Arc::new(self.store.clone()),
            &config.audit,
            format!("cli:{}", std::process::id()),
            guard(config)?,
        ))
    }

    /// Records an event by the operator at this terminal.
    pub(crate) async fn record(&self, action: &str, input: serde_json::Value) -> Result<()> {
        let os_user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
        let mut e = AuditEvent::new(cli_actor(), action, Outcome::Ok);
        e.input = Some(serde_json::json!({"os_user": os_user, "args": input}));
        self.audit
            .record(e)
            .await
            .context("the audit trail cannot be written, so nothing was done")?;
        Ok(())
    }
}

/// The operator at this terminal, as the audit trail names them.
fn cli_actor() -> Actor {
    Actor {
        user: "system:cli".into(),
        roles: vec![Role::Admin],
        auth: "cli".into(),
        ..Default::default()
    }
}

fn roles(names: &[String]) -> Result<Vec<Role>> {
    let mut out = Vec::new();
    for n in names {
        let role: Role = n.parse()?;
        if !out.contains(&role) {
            out.push(role);
        }
    }
    Ok(out)
}

fn read_password() -> Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let again = rpassword::prompt_password("Repeat: ")?;
        if first != again {
            bail!("the passwords differ; nothing was done");
        }
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        Ok(line.trim_end_matches(['\r', '\n']).to_string())
    }
}

fn time(ms: Option<i64>) -> String {
    ms.map(rfc3339).unwrap_or_else(|| "-".into())
}

/// `zhishu users …`
pub async fn users(config: &Config, cmd: UsersCommand) -> Result<()> {
    let ctx = Ctx::open(config).await?;
    match cmd {
        UsersCommand::Add {
            name,
            roles: role_names,
            groups,
            password,
            no_password,
            display_name,
        } => {
            let roles = roles(&role_names)?;
            let password_hash = if no_password {
                None
            } else {
                let pw = match password {
                    Some(p) => p,
                    None => read_password()?,
                };
                if pw.chars().count() < 8 {
                    bail!("the password must have at least 8 characters; nothing was done");
                }
                Some(hash_password(&pw).map_err(anyhow::Error::msg)?)
            };
            ctx.record(
                "user.create",
                serde_json::json!({"username": name, "roles": roles, "groups": groups}),
            )
            .await?;
            let user = ctx
                .store
                .create_user(&NewUser {
                    display_name: display_name.unwrap_or_else(|| name.clone()),
                    username: name,
                    password_hash,
                    roles,
                    access_groups: groups,
                })
                .await?;
            println!("created user {} ({})", user.username, user.id);
        }
        UsersCommand::List => {
            println!("{:<24} {:<40} {:<30} status", "username", "roles", "groups");
            for u in ctx.store.list_users().await? {
                let roles: Vec<&str> = u.roles.iter().map(|r| r.as_str()).collect();
                println!(
                    "{:<24} {:<40} {:<30} {}",
                    u.username,
                    roles.join(","),
                    u.access_groups.join(","),
                    if u.disabled_at.is_some() {
                        "disabled"
                    } else {
                        "active"
                    }
                );
            }
        }
        UsersCommand::Disable { name } => {
            ctx.record("user.disable", serde_json::json!({"username": name}))
                .await?;
            let u = ctx.store.disable_user(&name).await?;
            println!("disabled user {} at {}", u.username, time(u.disabled_at));
        }
    }
    Ok(())
}

/// `zhishu keys …`
pub async fn keys(config: &Config, cmd: KeysCommand) -> Result<()> {
    let ctx = Ctx::open(config).await?;
    match cmd {
        KeysCommand::Create {
            user,
            roles: role_names,
            name,
        } => {
            let owner = ctx.store.user_by_name(&user).await?;
            let roles = roles(&role_names)?;
            if let Some(r) = roles.iter().find(|r| !owner.roles.contains(r)) {
                bail!(
                    "user {user} does not hold the role {r}, so a key cannot grant it; nothing was done"
                );
            }
            if owner.disabled_at.is_some() {
                bail!("user {user} is disabled; nothing was done");
            }
            let secret = new_api_key();
            ctx.record("key.create", serde_json::json!({"user": user, "roles": roles, "prefix": secret.prefix, "name": name}))
                .await?;
            ctx.store
                .create_api_key(&NewApiKey {
                    user_id: owner.id,
                    name,
                    prefix: secret.prefix.clone(),
                    key_hash: secret.hash,
                    roles,
                })
                .await?;
            eprintln!(
                "API key {} created for {user}. It is shown once; store it now:",
                secret.prefix
            );
            println!("{}", secret.key);
        }
        KeysCommand::List => {
            println!(
                "{:<12} {:<20} {:<28} {:<26} {:<26} status",
                "prefix", "user", "roles", "created", "last used"
            );
            for k in ctx.store.list_api_keys().await? {
                let owner = ctx
                    .store
                    .user_by_id(&k.user_id)
                    .await
                    .map(|u| u.username)
                    .unwrap_or_default();
                let roles: Vec<&str> = k.roles.iter().map(|r| r.as_str()).collect();
                println!(
                    "{:<12} {:<20} {:<28} {:<26} {:<26} {}",
                    k.prefix,
                    owner,
                    roles.join(","),
                    time(Some(k.created_at)),
                    time(k.last_used_at),
                    if k.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    }
                );
            }
        }
        KeysCommand::Revoke { id } => {
            let key = match ctx.store.api_key_by_prefix(&id).await {
                Ok(k) => k,
                Err(StoreError::NotFound { .. }) => ctx
                    .store
                    .list_api_keys()
                    .await?
                    .into_iter()
                    .find(|k| k.id == id)
                    .with_context(|| format!("no API key with id or prefix `{id}`"))?,
                Err(e) => return Err(e.into()),
            };
            ctx.record("key.revoke", serde_json::json!({"prefix": key.prefix}))
                .await?;
            ctx.store.revoke_api_key(&key.id).await?;
            println!("revoked API key {}", key.prefix);
        }
    }
    Ok(())
}

fn filter(args: &AuditFilterArgs, text: Option<String>, limit: i64) -> Result<AuditFilter> {
    let t = |v: &Option<String>| {
        v.as_deref()
            .map(parse_time)
            .transpose()
            .map_err(anyhow::Error::msg)
    };
    Ok(AuditFilter {
        actor: args.user.clone(),
        action: args.action.clone(),
        outcome: args.outcome.clone(),
        from_ms: t(&args.from)?,
        to_ms: t(&args.to)?,
        text,
        document_id: args.document.clone(),
        guard: args.guard.clone(),
        before_seq: None,
        limit,
    })
}

/// `zhishu audit …`; returns whether the command's verdict is good (verify).
pub async fn audit(config: &Config, cmd: AuditCommand) -> Result<bool> {
    let ctx = Ctx::open(config).await?;
    match cmd {
        AuditCommand::Search {
            text,
            filter: args,
            limit,
            json,
        } => {
            let f = filter(&args, text.clone(), limit.clamp(1, 1000))?;
            ctx.record("audit.search", serde_json::json!({"text": text, "user": args.user, "action": args.action,
                "outcome": args.outcome, "from": args.from, "to": args.to, "document": args.document}))
                .await?;
            let records = ctx.store.search_audit(&f).await?;
            let mut out = std::io::stdout().lock();
            if !json {
                writeln!(
                    out,
                    "{:>6}  {:<24}  {:<16}  {:<22}  {:<8}  question / answer",
                    "seq", "time", "actor", "action", "outcome"
                )?;
            }
            for r in records {
                if json {
                    out.write_all(jsonl_line(&r).as_bytes())?;
                } else {
                    let q = r
                        .payload
                        .get("question")
                        .and_then(|v| v.as_str())
                        .unwrap_or_default();
                    writeln!(
                        out,
                        "{:>6}  {:<24}  {:<16}  {:<22}  {:<8}  {}",
                        r.seq,
                        time(Some(r.occurred_at)),
                        r.actor,
                        r.action,
                        r.outcome,
                        q
                    )?;
                }
            }
            Ok(true)
        }
        AuditCommand::Export {
            format,
            text,
            filter: args,
        } => {
            let mut f = filter(&args, text.clone(), 500)?;
            ctx.record("audit.export", serde_json::json!({"format": format!("{format:?}").to_lowercase(), "text": text,
                "user": args.user, "action": args.action, "outcome": args.outcome, "from": args.from, "to": args.to,
                "document": args.document}))
                .await?;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            if matches!(format, ExportFormat::Csv) {
                out.write_all(CSV_HEADER.as_bytes())?;
            }
            loop {
                let page = ctx.store.search_audit(&f).await?;
                for r in &page {
                    let line = match format {
                        ExportFormat::Csv => csv_line(r),
                        ExportFormat::Jsonl => jsonl_line(r),
                    };
                    out.write_all(line.as_bytes())?;
                }
                if (page.len() as i64) < f.limit {
                    break;
                }
                f.before_seq = page.last().map(|r| r.seq);
            }
            out.flush()?;
            Ok(true)
        }
        AuditCommand::Purge { dry_run } => {
            let days = config.audit.retention_days;
            if days == 0 {
                bail!(
                    "retention is not configured (audit.retention_days = 0 keeps everything); nothing was removed"
                );
            }
            let before = zhishu_store::now_ms() - i64::from(days) * 86_400_000;
            if dry_run {
                match ctx.store.last_audit_before(before).await? {
                    Some(last) => println!(
                        "would remove events #1–#{} (older than {}, {days} days)",
                        last.seq,
                        rfc3339(before)
                    ),
                    None => println!("nothing is older than {} ({days} days)", rfc3339(before)),
                }
                return Ok(true);
            }
            let report =
                zhishu_audit::purge(&ctx.store, &ctx.audit, cli_actor(), before, days).await?;
            match report.anchor {
                Some(a) => println!(
                    "removed {} events older than {}; the chain now starts after #{} (hash {})",
                    report.removed,
                    rfc3339(before),
                    a.anchor_seq,
                    a.anchor_hash
                ),
                None => println!("nothing is older than {} ({days} days)", rfc3339(before)),
            }
            Ok(true)
        }
        AuditCommand::Verify => {
            let v = verify(&ctx.store).await?;
            println!("{}", v.summary());
            ctx.record(
                "audit.verify",
                serde_json::json!({"ok": v.ok, "problem": v.problem}),
            )
            .await?;
            Ok(v.ok)
        }
    }
}
