//! Outgoing HTTP (`wasi:http`, e.g. JavaScript's `fetch` or Rust's
//! `wstd::http`) beside WebSockets, under the same network policy: a request
//! goes out only if the policy allows its host and port, and (checked on the
//! addresses the name resolves to just before the request) its addresses.
//! [`runner::GuestRunner`](crate::runner::GuestRunner) links it; embedders
//! that link `wasmtime-wasi-http` themselves use [`PolicyHooks`].

use std::sync::Arc;

use http_body_util::BodyExt as _;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use crate::policy::{ConnectTarget, NetworkPolicy};

/// `wasmtime-wasi-http`'s hooks with the guest's network policy: a request
/// the policy refuses fails with `HTTP-request-denied`, and the reason is
/// logged (target `wit_websocket_host::http`).
///
/// ```
/// use std::sync::Arc;
/// use wasmtime::component::ResourceTable;
/// use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};
/// use wit_websocket_host::http::PolicyHooks;
/// use wit_websocket_host::policy::AllowList;
///
/// struct State {
///     table: ResourceTable,
///     http: WasiHttpCtx,
///     hooks: PolicyHooks,
/// }
///
/// impl WasiHttpView for State {
///     fn http(&mut self) -> WasiHttpCtxView<'_> {
///         WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.hooks }
///     }
/// }
///
/// let policy = Arc::new(AllowList::deny_all().allow("api.example.com:443")?);
/// let state = State {
///     table: ResourceTable::new(),
///     http: WasiHttpCtx::new(),
///     hooks: PolicyHooks::new(policy),
/// };
/// # let _ = state;
/// # Ok::<(), String>(())
/// ```
pub struct PolicyHooks {
    policy: Arc<dyn NetworkPolicy>,
}

impl PolicyHooks {
    /// Hooks that ask `policy` about every outgoing request.
    ///
    /// ```
    /// use wit_websocket_host::WebSocketConfig;
    /// use wit_websocket_host::http::PolicyHooks;
    ///
    /// let config = WebSocketConfig::default();
    /// let hooks = PolicyHooks::new(config.policy.clone()); // the same policy as the sockets'
    /// # let _ = hooks;
    /// ```
    pub fn new(policy: Arc<dyn NetworkPolicy>) -> Self {
        Self { policy }
    }
}

type Sending = Box<
    dyn Future<
            Output = wasmtime_wasi_http::Result<(
                http::Response<WasiBody>,
                Box<dyn Future<Output = Result<(), Error>> + Send>,
            )>,
        > + Send,
>;

impl WasiHttpHooks for PolicyHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Sending {
        _ = fut;
        let policy = self.policy.clone();
        Box::new(async move {
            if let Err(reason) = permit(&*policy, request.uri()).await {
                tracing::info!(uri = %request.uri(), %reason, "HTTP request not permitted");
                return Err(Error::HttpRequestDenied);
            }
            tracing::debug!(method = %request.method(), uri = %request.uri(), "HTTP request");
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(|body| body.boxed_unsync()),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}

/// Asks `policy` about the host and port of `uri`, then about each address
/// its host resolves to (a name is resolved again when the request connects:
/// the policy sees what the resolver said a moment before).
async fn permit(policy: &dyn NetworkPolicy, uri: &http::Uri) -> Result<(), String> {
    let https = uri.scheme_str() == Some("https");
    let host = uri.host().ok_or("the request has no host")?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let target = ConnectTarget {
        scheme: if https { "https" } else { "http" },
        host,
        port: uri.port_u16().unwrap_or(if https { 443 } else { 80 }),
    };
    policy.check_host(&target)?;
    let addresses = tokio::net::lookup_host((host, target.port))
        .await
        .map_err(|e| format!("{host}: {e}"))?;
    for address in addresses {
        policy.check_address(&target, address.ip())?;
    }
    Ok(())
}
