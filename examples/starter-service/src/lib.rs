//! A Hydra service to copy and start from (docs/guide.md walks through it).
//!
//! | route | what it does |
//! |---|---|
//! | `GET /v1/starter/hello` | answers with the `greeting` of the config |
//! | `GET /v1/starter/ask/{service}` | sends `service` a UMF `ping` and answers with its reply |
//! | `POST /v1/starter/notes` | broadcasts the JSON body as a `note` to every instance |
//! | `GET /v1/starter/notes` | the notes this instance heard |
//! | `POST /v1/starter/jobs` | queues the JSON body as a job for the service's queue |
//! | `GET /v1/starter/jobs` | the jobs this instance did |
//!
//! UMF messages: a `ping` is answered with `{"pong": instanceID}`; a `note` is kept. Jobs are
//! taken from the queue by whichever instance asks first.
//!
//! Run it next to a Redis: `HYDRA_REDIS_URL=redis://127.0.0.1:6379/15 cargo run -p
//! example-starter-service` (in a crate of your own, `cargo run`); its tests start Redis
//! themselves: `cargo test -p example-starter-service`.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Path;
use axum::Extension;
use hydra_core::{Config, Hydra, HydraError, Messages, Umf};
use hydra_service::{
    ApiError, BoundService, Envelope, HydraService, Json, RunningService, SettingError,
};
use serde_json::{json, Value};

/// The built-in config, used when there is no `config/config.json` and no `--config`.
pub fn defaults() -> Value {
    json!({
        "hydra": {
            "serviceName": "starter-service",
            "serviceDescription": "A service to start from",
            "serviceVersion": env!("CARGO_PKG_VERSION"),
            "servicePort": 0
        },
        "greeting": "hello"
    })
}

/// How long `GET /v1/starter/ask/{service}` waits for the reply.
const ASK_TIMEOUT: Duration = Duration::from_secs(2);
/// How often an idle instance looks at the queue.
const QUEUE_POLL: Duration = Duration::from_millis(200);

/// What an instance heard: the notes broadcast to it, the jobs it did.
type Heard = Arc<Mutex<Vec<Value>>>;

/// What the instance keeps: its settings and what it heard.
#[derive(Debug, Clone, Default)]
struct State {
    greeting: String,
    notes: Heard,
    jobs_done: Heard,
}

/// The instance's own settings, from the top level of the config document.
fn state(config: &Config) -> Result<State, SettingError> {
    let greeting = match config.get("greeting") {
        None => "hello".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => return Err(SettingError::new("greeting", other, "a string")),
    };
    Ok(State {
        greeting,
        ..State::default()
    })
}

async fn hello(hydra: Hydra, greeting: String) -> Envelope {
    let (name, id) = (hydra.service_name(), hydra.instance_id());
    Envelope::ok(json!({ "msg": format!("{greeting} from {name} - {id}") }))
}

/// Sends `service` a `ping` and waits for the reply (Node has no request/reply: there, a reply
/// is a message like any other).
async fn ask(
    Extension(hydra): Extension<Hydra>,
    Path(service): Path<String>,
) -> Result<Envelope, ApiError> {
    let ping = Umf::new(format!("{service}:/"), hydra.own_route(), json!({})).with_type("ping");
    let reply = hydra.request(ping, ASK_TIMEOUT).await?;
    Ok(Envelope::ok(json!({ "reply": reply.body })))
}

/// A message from this instance to its own service (`starter-service:/`).
fn to_my_service(hydra: &Hydra, body: Value) -> Umf {
    Umf::new(
        format!("{}:/", hydra.service_name()),
        hydra.own_route(),
        body,
    )
}

/// Broadcasts the body to every instance of this service (this one too).
async fn post_note(
    Extension(hydra): Extension<Hydra>,
    Json(note): Json<Value>,
) -> Result<Envelope, ApiError> {
    let msg = to_my_service(&hydra, note).with_type("note");
    hydra.broadcast(&msg).await?;
    Ok(Envelope::new(202, json!({ "mid": msg.mid })))
}

/// Queues the body for whichever instance takes it first.
async fn post_job(
    Extension(hydra): Extension<Hydra>,
    Json(job): Json<Value>,
) -> Result<Envelope, ApiError> {
    let msg = to_my_service(&hydra, job);
    hydra.queue_message(&msg).await?;
    Ok(Envelope::new(202, json!({ "mid": msg.mid })))
}

async fn listed(heard: Heard) -> Envelope {
    Envelope::ok(Value::Array(heard.lock().expect("lock").clone()))
}

/// The HTTP routes. hydra-service hands every handler the Hydra handle (`Extension<Hydra>`);
/// what else a handler needs, its closure holds.
fn routes(service: HydraService, state: &State) -> HydraService {
    let State {
        greeting,
        notes,
        jobs_done,
    } = state.clone();
    service
        .get(
            "/v1/starter/hello",
            move |Extension(hydra): Extension<Hydra>| hello(hydra, greeting.clone()),
        )
        .get("/v1/starter/ask/{service}", ask)
        .post("/v1/starter/notes", post_note)
        .get("/v1/starter/notes", move || listed(notes.clone()))
        .post("/v1/starter/jobs", post_job)
        .get("/v1/starter/jobs", move || listed(jobs_done.clone()))
}

/// Answers the UMF messages sent to this instance or its service.
async fn listen(hydra: Hydra, mut inbox: Messages, notes: Heard) {
    while let Some(msg) = inbox.recv().await {
        if msg.rmid.is_some() {
            continue; // a reply no request waits for any more
        }
        match msg.typ.as_deref() {
            Some("ping") => {
                let pong = json!({ "pong": hydra.instance_id() });
                if let Err(e) = hydra.reply(&msg, pong).await {
                    tracing::warn!(error = %e, from = %msg.from, "could not answer a ping");
                }
            }
            Some("note") => notes.lock().expect("lock").push(msg.body),
            other => tracing::debug!(typ = ?other, from = %msg.from, "message ignored"),
        }
    }
}

/// Takes the service's queued jobs one at a time, does them, and marks them done.
async fn work(hydra: Hydra, jobs_done: Heard) {
    loop {
        match hydra.take_queued_message(hydra.service_name()).await {
            Ok(Some(taken)) => {
                jobs_done
                    .lock()
                    .expect("lock")
                    .push(taken.message.body.clone());
                if let Err(e) = hydra.mark_queued_message(&taken, true, None).await {
                    tracing::warn!(error = %e, "could not mark a job done");
                }
            }
            Ok(None) => tokio::time::sleep(QUEUE_POLL).await,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the queue");
                tokio::time::sleep(QUEUE_POLL).await;
            }
        }
    }
}

/// The service bound to its port and connected to Redis, ready to [`serve`](Self::serve).
#[derive(Debug)]
pub struct Starter {
    bound: BoundService,
    state: State,
}

/// Reads the settings, binds `servicePort` and connects to Redis; nothing is registered yet.
///
/// # Errors
/// [`HydraError::Config`] for a setting that cannot be used (`greeting` not a string, a bad
/// `hydra.bodyLimit`, …), else port, address or Redis errors.
pub async fn bind(config: Config) -> Result<Starter, HydraError> {
    let state = state(&config)?;
    let bound = routes(HydraService::try_new(config)?, &state)
        .bind()
        .await?;
    Ok(Starter { bound, state })
}

impl Starter {
    /// The Hydra handle.
    pub fn hydra(&self) -> &Hydra {
        self.bound.hydra()
    }

    /// Registers, answers messages, works the queue and serves HTTP until `shutdown` completes;
    /// then leaves as hydra-service does (presence first, then drain).
    ///
    /// # Errors
    /// Registration and serving errors.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), HydraError> {
        let hydra = self.bound.hydra().clone();
        // The reader exists before registration, so no message is missed.
        let listener = tokio::spawn(listen(
            hydra.clone(),
            hydra.messages(),
            self.state.notes.clone(),
        ));
        let worker = tokio::spawn(work(hydra, self.state.jobs_done.clone()));
        let served = self.bound.serve(shutdown).await;
        listener.abort();
        worker.abort();
        served
    }

    /// Serves in the background and returns once registered (for tests and for embedding).
    ///
    /// # Errors
    /// Registration errors.
    pub async fn spawn(self) -> Result<RunningService, HydraError> {
        let addr = self.bound.local_addr()?;
        let hydra = self.hydra().clone();
        RunningService::start(addr, hydra, |stop| self.serve(stop)).await
    }
}
