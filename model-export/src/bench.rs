//! `nl2py bench`: speed of the default model on this machine (a benchmark, never a test):
//! training step time and target tokens/s on a fixed batch, and generation latency and
//! tokens/s (greedy with the cache, greedy recomputing the prefix, beam 4).

use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Distribution, Int, Tensor};
use nl2py::data::batch::{Batch, EncodedExample};
use nl2py::model::{EncoderInput, Seq2Seq, Seq2SeqConfig};
use nl2py::text::prompt::Slots;
use nl2py::train::loss;
use serde::Serialize;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Prompt and code length of the training batch.
    #[arg(long, default_value_t = 40)]
    length: usize,
    #[arg(long, default_value_t = 5)]
    steps: usize,
    /// Tokens generated per generation measurement.
    #[arg(long, default_value_t = 64)]
    tokens: usize,
    #[arg(long, default_value_t = 5000)]
    vocab: usize,
    #[arg(long, default_value_t = 0.1)]
    label_smoothing: f32,
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Report {
    threads: usize,
    params: usize,
    train_step_ms: f64,
    /// The step split into loss forward, backward, and optimizer update.
    forward_ms: f64,
    backward_ms: f64,
    optimizer_ms: f64,
    train_target_tokens_per_s: f64,
    encoder_forward_backward_ms: f64,
    greedy_first_token_ms: f64,
    greedy_tokens_per_s: f64,
    greedy_no_cache_tokens_per_s: f64,
    /// Greedy decoding of four rows at once, the batch shape a beam of 4 steps with.
    four_rows_tokens_per_s: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn random_ids(rows: usize, cols: usize, vocab: usize, device: &Device) -> Tensor<2, Int> {
    Tensor::<2>::random([rows, cols], Distribution::Uniform(4.0, vocab as f64 - 1.0), device).int()
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let device = Device::flex();
    device.seed(0);
    let config = Seq2SeqConfig::new(args.vocab, args.vocab);
    let ad = device.clone().autodiff();
    let mut model: Seq2Seq = config.init(&ad);
    let params = model.num_params();
    let examples: Vec<EncodedExample> = (0..args.batch)
        .map(|i| EncodedExample {
            prompt: (0..args.length).map(|t| 4 + (i * 7 + t * 13) % (args.vocab - 4)).collect(),
            examples: Vec::new(),
            code: (0..args.length - 1).map(|t| 4 + (i * 11 + t * 17) % (args.vocab - 4)).collect(),
            slots: Slots::default(),
            reference: String::new(),
        })
        .collect();
    let batch = Batch::new(examples, &ad);
    let mut optimizer = AdamWConfig::new().init();
    // Flex runs eagerly, so the clock between phases times each phase.
    let (mut forward, mut backward, mut update) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..args.steps + 1 {
        let start = Instant::now();
        let loss = loss(&model, &batch, args.label_smoothing);
        let _ = loss.clone().into_scalar::<f32>();
        let forwarded = Instant::now();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let backwarded = Instant::now();
        model = optimizer.step(1e-4, model, grads);
        forward.push((forwarded - start).as_secs_f64() * 1e3);
        backward.push((backwarded - forwarded).as_secs_f64() * 1e3);
        update.push(backwarded.elapsed().as_secs_f64() * 1e3);
    }
    // The first step warms caches up.
    let [forward_ms, backward_ms, optimizer_ms] = [forward, backward, update].map(|mut v| {
        v.remove(0);
        median(v)
    });
    let train_step_ms = forward_ms + backward_ms + optimizer_ms;

    // The encoder alone, forward and backward, as in the PyTorch comparison script.
    let mut encoder_ms = Vec::new();
    for _ in 0..args.steps + 1 {
        let start = Instant::now();
        let memory = model.encode(&batch.input);
        let _ = memory.states.sum().backward();
        encoder_ms.push(start.elapsed().as_secs_f64() * 1e3);
    }
    encoder_ms.remove(0);

    let model = model.valid();
    let prompt = random_ids(1, 12, args.vocab, &device);
    let generate = |rows: usize, cached: bool| -> (f64, f64) {
        let prompt = prompt.clone().repeat_dim(0, rows);
        let start = Instant::now();
        let mut first = 0.0;
        let memory = model.encode(&EncoderInput::new(prompt.clone()));
        let mut state = model.start(memory.clone());
        let mut prefix = Tensor::<2, Int>::ones([rows, 1], &device);
        for t in 0..args.tokens {
            let next = if cached {
                let last = prefix.clone().slice([0..rows, t..t + 1]);
                model.step(&mut state, last).logits.argmax(1)
            } else {
                let mut fresh = model.start(memory.clone());
                let (logits, _) = model.decode(&mut fresh, prefix.clone());
                let [_, length, vocab] = logits.dims();
                logits.slice([0..rows, length - 1..length]).reshape([rows, vocab]).argmax(1)
            };
            // Read back each step, as a search does to choose the next token.
            let _: Vec<i64> = next.clone().into_data().try_into_vec_as().expect("ints");
            if t == 0 {
                first = start.elapsed().as_secs_f64() * 1e3;
            }
            prefix = Tensor::cat(vec![prefix, next], 1);
        }
        (first, args.tokens as f64 / start.elapsed().as_secs_f64())
    };
    generate(1, true);
    let (greedy_first_token_ms, greedy_tokens_per_s) = generate(1, true);
    let (_, greedy_no_cache_tokens_per_s) = generate(1, false);
    // Four rows a step, as a beam of 4 advances; tokens/s counts output tokens (one per step).
    let (_, four_rows_tokens_per_s) = generate(4, true);

    let report = Report {
        threads: available_threads(),
        params,
        train_step_ms,
        forward_ms,
        backward_ms,
        optimizer_ms,
        train_target_tokens_per_s: (args.batch * args.length) as f64 / (train_step_ms / 1e3),
        encoder_forward_backward_ms: median(encoder_ms),
        greedy_first_token_ms,
        greedy_tokens_per_s,
        greedy_no_cache_tokens_per_s,
        four_rows_tokens_per_s,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("default model: {} parameters, {} threads", report.params, report.threads);
        println!(
            "training: {:.0} ms a step on {}×{} tokens (forward {:.0}, backward {:.0}, AdamW {:.0}), {:.0} target tokens/s; encoder fwd+bwd {:.0} ms",
            report.train_step_ms,
            args.batch,
            args.length,
            report.forward_ms,
            report.backward_ms,
            report.optimizer_ms,
            report.train_target_tokens_per_s,
            report.encoder_forward_backward_ms
        );
        println!(
            "generation ({} tokens): first token {:.1} ms, greedy {:.0} tok/s with cache, {:.0} tok/s recomputing the prefix ({:.1}× from the cache), 4 rows at once {:.0} tok/s",
            args.tokens,
            report.greedy_first_token_ms,
            report.greedy_tokens_per_s,
            report.greedy_no_cache_tokens_per_s,
            report.greedy_tokens_per_s / report.greedy_no_cache_tokens_per_s,
            report.four_rows_tokens_per_s
        );
    }
    Ok(())
}

fn available_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
