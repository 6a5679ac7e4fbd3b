//! What the page and its workers (the WebGPU engine, the Python interpreter) share to talk: their
//! messages as plain JS values through serde, and an inbox that hands the messages of a worker,
//! or of a worker's global scope, over one at a time to async code.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use serde::{Deserialize, Serialize};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{EventTarget, MessageEvent};

pub fn to_js(message: &impl Serialize) -> JsValue {
    // A sampling seed is a u64: as a BigInt, every bit of it crosses.
    let serializer = serde_wasm_bindgen::Serializer::new().serialize_large_number_types_as_bigints(true);
    message.serialize(&serializer).expect("the workers' messages are plain data")
}

/// Reads a message; `peer` names the other end for the error.
pub fn from_js<T: for<'de> Deserialize<'de>>(value: JsValue, peer: &str) -> Result<T, String> {
    serde_wasm_bindgen::from_value(value).map_err(|e| format!("a malformed message from {peer}: {e}"))
}

/// Messages that arrive at a page's worker or at a worker's global scope, read one at a time in
/// the order they came. An error event (the worker's script missing or failing) is read as `Err`.
pub struct Inbox {
    arrived: Rc<RefCell<VecDeque<Result<JsValue, String>>>>,
    /// The `resolve` of the promise that [`Inbox::next`] awaits when nothing had arrived.
    waiting: Rc<RefCell<Option<js_sys::Function>>>,
    _listeners: [Closure<dyn FnMut(web_sys::Event)>; 2],
}

impl Inbox {
    /// Listens to `target`; `name` says whose failure an error event is ("the WebGPU worker").
    pub fn listen(target: &EventTarget, name: &'static str) -> Inbox {
        let arrived: Rc<RefCell<VecDeque<Result<JsValue, String>>>> = Rc::default();
        let waiting: Rc<RefCell<Option<js_sys::Function>>> = Rc::default();
        let deliver = {
            let (arrived, waiting) = (arrived.clone(), waiting.clone());
            move |item: Result<JsValue, String>| {
                arrived.borrow_mut().push_back(item);
                if let Some(resolve) = waiting.borrow_mut().take() {
                    let _ = resolve.call0(&JsValue::UNDEFINED);
                }
            }
        };
        let on_message = {
            let deliver = deliver.clone();
            Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
                deliver(Ok(event.unchecked_into::<MessageEvent>().data()))
            })
        };
        let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
            let message = event
                .dyn_ref::<web_sys::ErrorEvent>()
                .map(|e| e.message())
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| "its script did not load".into());
            deliver(Err(format!("{name} failed: {message}")))
        });
        let _ = target.add_event_listener_with_callback("message", on_message.as_ref().unchecked_ref());
        let _ = target.add_event_listener_with_callback("error", on_error.as_ref().unchecked_ref());
        Inbox { arrived, waiting, _listeners: [on_message, on_error] }
    }

    pub async fn next(&self) -> Result<JsValue, String> {
        loop {
            if let Some(item) = self.next_within(f64::INFINITY).await {
                return item;
            }
        }
    }

    /// The next message, or `None` when none came within `ms` milliseconds.
    pub async fn next_within(&self, ms: f64) -> Option<Result<JsValue, String>> {
        let deadline = js_sys::Date::now() + ms;
        loop {
            if let Some(item) = self.arrived.borrow_mut().pop_front() {
                return Some(item);
            }
            let left = deadline - js_sys::Date::now();
            if left <= 0.0 {
                return None;
            }
            let waiting = self.waiting.clone();
            let arrival = js_sys::Promise::new(&mut |resolve, _| {
                if left.is_finite() {
                    // setTimeout exists in a page and in a worker alike: reach it through the global.
                    let set_timeout = js_sys::Reflect::get(&js_sys::global(), &"setTimeout".into())
                        .ok()
                        .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
                    if let Some(set_timeout) = set_timeout {
                        let _ =
                            set_timeout.call2(&JsValue::UNDEFINED, &resolve, &JsValue::from_f64(left.ceil()));
                    }
                }
                *waiting.borrow_mut() = Some(resolve);
            });
            let _ = JsFuture::from(arrival).await;
        }
    }
}
