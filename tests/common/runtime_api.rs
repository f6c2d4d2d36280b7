//! A small stand-in for the platforms' runtime APIs (AWS Lambda 2018-06-01 and FunctionGraph's
//! custom runtime API) on 127.0.0.1, so the real binary runs its real loop in tests.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// Which runtime API to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Lambda,
    FunctionGraph,
}

/// An answer the function posted.
#[derive(Debug, Clone)]
pub struct Answer {
    pub id: String,
    /// Posted to the response (not the error) endpoint.
    pub ok: bool,
    pub body: Value,
}

struct Queued {
    id: String,
    body: String,
    headers: Vec<(String, String)>,
}

#[derive(Default)]
struct State {
    /// Polls to refuse with a 500 before serving (a runtime API that misbehaves).
    refuse_polls: u32,
    refused: u32,
    /// Answer posts to refuse with a 500 before accepting (a runtime API going away).
    refuse_answers: u32,
    answers_refused: u32,
    queue: VecDeque<Queued>,
    answers: Vec<Answer>,
    next_id: u32,
}

/// A running runtime API; stops when dropped.
pub struct RuntimeApi {
    pub addr: String,
    state: Arc<Mutex<State>>,
    queued: Arc<Notify>,
    answered: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl RuntimeApi {
    pub async fn start(flavor: Flavor) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let state = Arc::new(Mutex::new(State::default()));
        let (queued, answered) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        let (s, q, a) = (state.clone(), queued.clone(), answered.clone());
        let task = super::serve_http(listener, move |req| {
            serve(flavor, s.clone(), q.clone(), a.clone(), req)
        });
        Self {
            addr,
            state,
            queued,
            answered,
            task,
        }
    }

    /// Queues an event (any text: tests send garbage too) with extra response headers.
    pub fn push_raw(&self, body: String, headers: &[(&str, &str)]) -> String {
        let mut st = self.state.lock().unwrap();
        st.next_id += 1;
        let id = format!("req-{:04}", st.next_id);
        st.queue.push_back(Queued {
            id: id.clone(),
            body,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        });
        drop(st);
        self.queued.notify_waiters();
        self.queued.notify_one();
        id
    }

    /// Makes the next `n` polls fail with a 500.
    pub fn refuse_polls(&self, n: u32) {
        self.state.lock().unwrap().refuse_polls = n;
    }

    /// Polls refused so far.
    pub fn refuse_answers(&self, n: u32) {
        self.state.lock().unwrap().refuse_answers = n;
    }

    pub fn answers_refused(&self) -> u32 {
        self.state.lock().unwrap().answers_refused
    }

    pub fn refused(&self) -> u32 {
        self.state.lock().unwrap().refused
    }

    pub fn push(&self, event: &Value, headers: &[(&str, &str)]) -> String {
        self.push_raw(event.to_string(), headers)
    }

    /// Waits until `n` answers have been posted (or `limit` passes) and returns them.
    pub async fn answers(&self, n: usize, limit: Duration) -> Vec<Answer> {
        let until = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.answered.notified();
            {
                let st = self.state.lock().unwrap();
                if st.answers.len() >= n {
                    return st.answers.clone();
                }
            }
            if tokio::time::timeout_at(until, notified).await.is_err() {
                let st = self.state.lock().unwrap();
                panic!(
                    "only {} of {n} answers within {limit:?}: {:?}",
                    st.answers.len(),
                    st.answers
                );
            }
        }
    }

    /// The answer to invocation `id`.
    pub fn answer(answers: &[Answer], id: &str) -> Answer {
        answers
            .iter()
            .find(|a| a.id == id)
            .cloned()
            .unwrap_or_else(|| panic!("no answer to {id}"))
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    flavor: Flavor,
    state: Arc<Mutex<State>>,
    queued: Arc<Notify>,
    answered: Arc<Notify>,
    req: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let next_path = match flavor {
        Flavor::Lambda => "/2018-06-01/runtime/invocation/next",
        Flavor::FunctionGraph => "/v1/runtime/invocation/request",
    };
    if method == hyper::Method::GET && path == next_path {
        {
            let mut st = state.lock().unwrap();
            if st.refused < st.refuse_polls {
                st.refused += 1;
                return Ok(Response::builder()
                    .status(500)
                    .body(Full::new(Bytes::new()))
                    .unwrap());
            }
        }
        // The long poll: wait for an event.
        let item = loop {
            let notified = queued.notified();
            if let Some(item) = state.lock().unwrap().queue.pop_front() {
                break item;
            }
            notified.await;
        };
        let mut resp = Response::builder().status(200);
        match flavor {
            Flavor::Lambda => {
                let deadline = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_millis()
                    + 120_000;
                resp = resp
                    .header("lambda-runtime-aws-request-id", &item.id)
                    .header("lambda-runtime-deadline-ms", deadline.to_string())
                    .header(
                        "lambda-runtime-invoked-function-arn",
                        "arn:aws:lambda:eu-west-1:123456789012:function:cdn-cert-deploy",
                    )
                    .header(
                        "lambda-runtime-trace-id",
                        "Root=1-5759e988-bd862e3fe1be46a994272793",
                    );
            }
            Flavor::FunctionGraph => resp = resp.header("x-cff-request-id", &item.id),
        }
        for (k, v) in &item.headers {
            resp = resp.header(k, v);
        }
        return Ok(resp.body(Full::new(Bytes::from(item.body))).unwrap());
    }
    let answer = match flavor {
        Flavor::Lambda => path
            .strip_prefix("/2018-06-01/runtime/invocation/")
            .and_then(|rest| rest.split_once('/'))
            .map(|(id, kind)| (id.to_string(), kind == "response")),
        Flavor::FunctionGraph => path
            .strip_prefix("/v1/runtime/invocation/")
            .and_then(|rest| rest.split_once('/'))
            .map(|(kind, id)| (id.to_string(), kind == "response")),
    };
    if let (true, Some((id, ok))) = (method == hyper::Method::POST, answer) {
        {
            let mut st = state.lock().unwrap();
            if st.answers_refused < st.refuse_answers {
                st.answers_refused += 1;
                return Ok(Response::builder()
                    .status(500)
                    .body(Full::new(Bytes::new()))
                    .unwrap());
            }
        }
        let body = serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
        state.lock().unwrap().answers.push(Answer { id, ok, body });
        answered.notify_waiters();
        return Ok(Response::builder()
            .status(202)
            .body(Full::new(Bytes::from("{}")))
            .unwrap());
    }
    Ok(Response::builder()
        .status(404)
        .body(Full::new(Bytes::new()))
        .unwrap())
}
