//! The attention graph: how much each generated code token looked at each prompt token
//! (decoder cross-attention), drawn as SVG. Two views: a bipartite graph (prompt tokens in the
//! left column, code tokens in the right one, a line per pair whose opacity is the weight) and a
//! heat map (code tokens × prompt tokens). Long code grows the drawing; its box scrolls.

use nl2py::decode::Generation;
use nl2py::text::code;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;
use web_sys::{Document, Element};

const SVG: &str = "http://www.w3.org/2000/svg";
/// Row height of a token, pixels.
const ROW: f64 = 18.0;
/// Heat-map cell width, pixels.
const CELL: f64 = 22.0;
/// Lines lighter than this are not drawn (they would be invisible and slow the page).
const MIN_WEIGHT: f32 = 0.02;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Graph,
    HeatMap,
}

/// Which attention to show: one layer and head, or the mean over them (`None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selection {
    pub view: View,
    pub layer: Option<usize>,
    pub head: Option<usize>,
}

/// The prompt tokens as the user wrote them: slot tokens show their text.
pub fn prompt_labels(generation: &Generation) -> Vec<String> {
    generation
        .prompt_tokens
        .iter()
        .map(|token| match generation.slots.iter().find(|s| &s.token == token) {
            Some(slot) => slot.text.clone(),
            None => token.clone(),
        })
        .collect()
}

/// Code tokens with layout shown as symbols and slots as the names they stand for.
pub fn code_labels(generation: &Generation) -> Vec<String> {
    generation
        .output_tokens
        .iter()
        .map(|token| match token.as_str() {
            code::NEWLINE => "⏎".to_string(),
            code::INDENT => "⇥".to_string(),
            code::DEDENT => "⇤".to_string(),
            " " => "␣".to_string(),
            _ => match generation.slots.iter().find(|s| &s.token == token) {
                Some(slot) => slot.text.clone(),
                None => token.clone(),
            },
        })
        .collect()
}

/// The weights to draw, `[code token][prompt token]`.
pub fn matrix(generation: &Generation, selection: Selection) -> Vec<Vec<f32>> {
    let Some(attention) = &generation.attention else { return Vec::new() };
    (0..attention.steps()).map(|step| attention.mean(step, selection.layer, selection.head)).collect()
}

fn svg(document: &Document, tag: &str, attributes: &[(&str, String)]) -> Element {
    let element = document.create_element_ns(Some(SVG), tag).expect("SVG element");
    for (name, value) in attributes {
        element.set_attribute(name, value).expect("SVG attribute");
    }
    element
}

/// An `<svg>` of the given class and size, pixels.
fn canvas(document: &Document, class: &str, width: f64, height: f64) -> Element {
    svg(
        document,
        "svg",
        &[
            ("class", class.into()),
            ("width", width.to_string()),
            ("height", height.to_string()),
            ("viewBox", format!("0 0 {width} {height}")),
        ],
    )
}

fn text(document: &Document, x: f64, y: f64, anchor: &str, label: &str, class: &str) -> Element {
    let node = svg(
        document,
        "text",
        &[
            ("x", x.to_string()),
            ("y", y.to_string()),
            ("text-anchor", anchor.into()),
            ("dominant-baseline", "middle".into()),
            ("class", class.into()),
        ],
    );
    node.set_text_content(Some(label)); // text, never markup
    node
}

/// Approximate width of a label in the 12 px monospace font, pixels.
fn label_width(labels: &[String]) -> f64 {
    labels.iter().map(|l| l.chars().count().min(24)).max().unwrap_or(1) as f64 * 7.5 + 12.0
}

/// Draws the selected view of a generation's attention as a new `<svg>`.
pub fn draw(document: &Document, generation: &Generation, selection: Selection) -> Element {
    let weights = matrix(generation, selection);
    let prompt = prompt_labels(generation);
    let code = code_labels(generation);
    match selection.view {
        View::Graph => graph(document, &prompt, &code, &weights),
        View::HeatMap => heat_map(document, &prompt, &code, &weights),
    }
}

fn graph(document: &Document, prompt: &[String], code: &[String], weights: &[Vec<f32>]) -> Element {
    let left = label_width(prompt);
    let right = label_width(code);
    let gap = 260.0;
    let rows = code.len().max(prompt.len()).max(1) as f64;
    let height = rows * ROW + ROW;
    let width = left + gap + right;
    let root = canvas(document, "attention graph", width, height);
    // Both columns spread over the same height, so short prompts face long code.
    let prompt_y = |i: usize| ROW / 2.0 + (i as f64 + 0.5) * (height - ROW) / prompt.len().max(1) as f64;
    let code_y = |j: usize| ROW / 2.0 + (j as f64 + 0.5) * (height - ROW) / code.len().max(1) as f64;
    let lines = svg(document, "g", &[("class", "lines".into())]);
    for (j, row) in weights.iter().enumerate() {
        for (i, &w) in row.iter().enumerate() {
            if w < MIN_WEIGHT {
                continue;
            }
            let line = svg(
                document,
                "line",
                &[
                    ("x1", left.to_string()),
                    ("y1", prompt_y(i).to_string()),
                    ("x2", (left + gap).to_string()),
                    ("y2", code_y(j).to_string()),
                    ("stroke-opacity", format!("{w:.3}")),
                    ("class", format!("p{i} c{j}")),
                ],
            );
            lines.append_child(&line).expect("append");
        }
    }
    root.append_child(&lines).expect("append");
    for (i, label) in prompt.iter().enumerate() {
        let node = text(document, left - 6.0, prompt_y(i), "end", label, "token prompt");
        hover(&root, &node, &format!("p{i}"));
        root.append_child(&node).expect("append");
    }
    for (j, label) in code.iter().enumerate() {
        let node = text(document, left + gap + 6.0, code_y(j), "start", label, "token code");
        hover(&root, &node, &format!("c{j}"));
        root.append_child(&node).expect("append");
    }
    root
}

/// Hovering a token lights its lines and dims the others.
fn hover(root: &Element, token: &Element, class: &str) {
    let (root_in, root_out) = (root.clone(), root.clone());
    let selector = format!(".{class}");
    let enter = Closure::<dyn Fn()>::new(move || {
        let _ = root_in.class_list().add_1("focus");
        if let Ok(lines) = root_in.query_selector_all(&selector) {
            for k in 0..lines.length() {
                if let Some(line) = lines.item(k).and_then(|n| n.dyn_into::<Element>().ok()) {
                    let _ = line.class_list().add_1("hot");
                }
            }
        }
    });
    let leave = Closure::<dyn Fn()>::new(move || {
        let _ = root_out.class_list().remove_1("focus");
        if let Ok(lines) = root_out.query_selector_all(".hot") {
            for k in 0..lines.length() {
                if let Some(line) = lines.item(k).and_then(|n| n.dyn_into::<Element>().ok()) {
                    let _ = line.class_list().remove_1("hot");
                }
            }
        }
    });
    token.add_event_listener_with_callback("mouseenter", enter.as_ref().unchecked_ref()).expect("listener");
    token.add_event_listener_with_callback("mouseleave", leave.as_ref().unchecked_ref()).expect("listener");
    // The drawing lives until the next generation replaces it; its listeners go with it.
    enter.forget();
    leave.forget();
}

fn heat_map(document: &Document, prompt: &[String], code: &[String], weights: &[Vec<f32>]) -> Element {
    let left = label_width(code);
    let top = label_width(prompt) * 0.8 + 8.0;
    let width = left + prompt.len() as f64 * CELL + 8.0;
    let height = top + code.len() as f64 * ROW + 8.0;
    let root = canvas(document, "attention heatmap", width, height);
    for (i, label) in prompt.iter().enumerate() {
        let x = left + (i as f64 + 0.5) * CELL;
        let node = text(document, x, top - 6.0, "start", label, "token prompt");
        node.set_attribute("transform", &format!("rotate(-60 {x} {})", top - 6.0)).expect("attribute");
        root.append_child(&node).expect("append");
    }
    for (j, row) in weights.iter().enumerate() {
        let y = top + j as f64 * ROW;
        let label = code.get(j).map_or("", String::as_str);
        root.append_child(&text(document, left - 6.0, y + ROW / 2.0, "end", label, "token code"))
            .expect("append");
        for (i, &w) in row.iter().enumerate() {
            let cell = svg(
                document,
                "rect",
                &[
                    ("x", (left + i as f64 * CELL).to_string()),
                    ("y", y.to_string()),
                    ("width", (CELL - 1.0).to_string()),
                    ("height", (ROW - 1.0).to_string()),
                    ("fill-opacity", format!("{:.3}", w.max(0.03))),
                    ("class", "cell".into()),
                ],
            );
            let tip = svg(document, "title", &[]);
            tip.set_text_content(Some(&format!(
                "{label} → {}: {w:.2}",
                prompt.get(i).map_or("", String::as_str)
            )));
            cell.append_child(&tip).expect("append");
            root.append_child(&cell).expect("append");
        }
    }
    root
}
