//! A small multi-tenant host: the code a platform builder starts from.
//!
//! Each tenant is a guest component with arguments, a network policy of its
//! own (the hosts it may reach) and limits of its own; all run at once in one
//! process, on one engine with the pooling allocator, each component linked
//! once (`InstancePre`) however many tenants run it. At the end each tenant's
//! statistics are printed, as a platform would export them to its metrics.
//!
//! Usage: `multi-tenant TENANT...`, each `NAME=COMPONENT.wasm@ALLOW[@ARG...]`,
//! e.g. `alice=echo.wasm@127.0.0.1:9001@ws://127.0.0.1:9001/@2`.

use std::collections::HashMap;
use std::process::ExitCode;

use wasmtime::{Config, InstanceAllocationStrategy, PoolingAllocationConfig};
use wasmtime_wasi::WasiCtx;
use wit_websocket_host::policy::AllowList;
use wit_websocket_host::runner::{GuestRunner, GuestState, PreparedGuest};
use wit_websocket_host::{WebSocketConfig, WebSocketCtx};

/// One tenant: who, which component, where it may connect, its arguments.
struct Tenant {
    name: String,
    component: String,
    allow: String,
    args: Vec<String>,
}

fn parse(spec: &str) -> Result<Tenant, String> {
    let (name, rest) = spec
        .split_once('=')
        .ok_or_else(|| format!("{spec:?}: expected NAME=COMPONENT@ALLOW[@ARG...]"))?;
    let mut parts = rest.split('@');
    let component = parts.next().unwrap_or_default().to_string();
    let allow = parts
        .next()
        .ok_or_else(|| format!("{spec:?}: no @ALLOW"))?
        .to_string();
    Ok(Tenant {
        name: name.to_string(),
        component,
        allow,
        args: parts.map(String::from).collect(),
    })
}

/// The limits every tenant gets here: a platform would read them from its
/// tenant's plan.
fn tenant_config(allow: &str) -> Result<WebSocketConfig, String> {
    let mut config = WebSocketConfig::with_policy(AllowList::deny_all().allow(allow)?);
    config.max_sockets = 16;
    config.max_sockets_per_device = 16;
    config.max_buffered_amount = 4 << 20;
    config.max_queued_bytes = 1 << 20;
    Ok(config)
}

/// An engine whose instances come from a pool sized for `tenants`.
fn runner(tenants: u32) -> wasmtime::Result<GuestRunner> {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(tenants)
        .total_core_instances(10 * tenants)
        .total_memories(2 * tenants)
        .total_tables(4 * tenants)
        .max_memory_size(64 << 20);
    let mut config = Config::new();
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    GuestRunner::with_config(config)
}

async fn run_tenant(
    tenant: Tenant,
    guest: std::sync::Arc<PreparedGuest>,
) -> wasmtime::Result<String> {
    let config = tenant_config(&tenant.allow).map_err(wasmtime::Error::msg)?;
    let mut argv = vec![tenant.component.clone()];
    argv.extend(tenant.args);
    let wasi = WasiCtx::builder().inherit_stderr().args(&argv).build();
    let state = GuestState::new(wasi, WebSocketCtx::new(config)).with_memory_limit(64 << 20);
    let mut instance = guest.instantiate(state).await?;
    let status = instance.run_to_completion().await;
    let websockets = instance.state().websockets();
    let stats = websockets.stats().clone();
    let live = websockets.live_sockets();
    instance.shutdown().await;
    let status = match status {
        Ok(status) => format!("status {status}"),
        Err(trap) => format!("trapped: {trap}"),
    };
    Ok(format!(
        "{}: {status}; sockets {} made, {live} live; sent {} messages ({} B), received {} ({} B); errors {:?}; refused {:?}",
        tenant.name,
        stats.sockets_created,
        stats.messages_sent,
        stats.bytes_sent,
        stats.messages_received,
        stats.bytes_received,
        stats.errors,
        stats.refusals,
    ))
}

async fn main_async(specs: Vec<String>) -> Result<Vec<String>, String> {
    let tenants = specs
        .iter()
        .map(|s| parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    let runner = runner(tenants.len() as u32 + 1).map_err(|e| e.to_string())?;
    // Each component is compiled and linked once, however many tenants run it.
    let mut prepared: HashMap<String, std::sync::Arc<PreparedGuest>> = HashMap::new();
    for tenant in &tenants {
        if !prepared.contains_key(&tenant.component) {
            let component = runner
                .load_file(tenant.component.as_ref())
                .map_err(|e| format!("{e:#}"))?;
            let guest = runner.prepare(&component).map_err(|e| format!("{e:#}"))?;
            prepared.insert(tenant.component.clone(), std::sync::Arc::new(guest));
        }
    }
    // Every tenant in a task of its own, all at once.
    let runs: Vec<_> = tenants
        .into_iter()
        .map(|tenant| {
            let guest = prepared[&tenant.component].clone();
            tokio::spawn(run_tenant(tenant, guest))
        })
        .collect();
    let mut lines = Vec::new();
    for run in runs {
        let line = run
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("{e:#}"))?;
        lines.push(line);
    }
    Ok(lines)
}

#[tokio::main]
async fn main() -> ExitCode {
    let specs: Vec<String> = std::env::args().skip(1).collect();
    if specs.is_empty() {
        eprintln!("usage: multi-tenant NAME=COMPONENT.wasm@ALLOW[@ARG...]...");
        return ExitCode::from(2);
    }
    match main_async(specs).await {
        Ok(lines) => {
            for line in lines {
                println!("{line}");
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("multi-tenant: {error}");
            ExitCode::FAILURE
        }
    }
}
