//! `nl2py bench`: speed on this machine (a benchmark, never a test). Training: step time and
//! target tokens/s of the default-size model on a fixed batch, on `--device`. Generation: the
//! shipped model (or `--model`) on everyday prompts through the same search the CLI and the page
//! run, greedy and the default beam, with the CPU decoder and with Burn's own step on Flex, and,
//! where `--device` names a GPU, with Burn's step there too (the code the page's WebGPU worker
//! runs), with how many greedy answers equal the CPU's. Tokens/s counts generated tokens over the
//! whole time, as the page reports it.

use std::path::PathBuf;
use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Int, Tensor, TensorData};
use clap::builder::TypedValueParser;
use nl2py::bundle;
use nl2py::data::batch::{Batch, EncodedExample};
use nl2py::decode::{GenerateOptions, SPEED_PROMPTS, Search, Translator, Watch};
use nl2py::model::{CpuDecoder, EncoderInput, Seq2Seq, Seq2SeqConfig};
use nl2py::text::prompt::Slots;
use nl2py::train::loss;
use serde::Serialize;

#[derive(clap::Args)]
pub struct Args {
    /// Training batch size.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..).map(usize::from))]
    batch: usize,
    /// Prompt and code length of the training batch.
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u16).range(2..).map(usize::from))]
    length: usize,
    /// Training steps timed (after one to warm up).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..).map(usize::from))]
    steps: usize,
    /// The model generation is timed on.
    #[arg(long, default_value = "model/default.nl2py")]
    model: PathBuf,
    /// Most tokens a generation may produce [default: the page's and the CLI's own limit, as the
    /// page benchmark runs].
    #[arg(long, default_value_t = GenerateOptions::default().max_tokens, value_parser = clap::value_parser!(u16).range(1..=4096).map(usize::from))]
    tokens: usize,
    /// Vocabulary size of the training benchmark's model.
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u32).range(5..=1_000_000).map(|v| v as usize))]
    vocab: usize,
    #[arg(long, default_value_t = 0.1)]
    label_smoothing: f32,
    /// Backend of the training step, and of a third set of generation rows where it is not flex:
    /// wgpu, vulkan or cuda where built with that feature.
    #[arg(long, default_value = "flex")]
    device: String,
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Report {
    threads: usize,
    device: String,
    params: usize,
    train_step_ms: f64,
    /// The step split into loss forward, backward, and optimizer update.
    forward_ms: f64,
    backward_ms: f64,
    optimizer_ms: f64,
    train_target_tokens_per_s: f64,
    encoder_forward_backward_ms: f64,
    /// The CPU decoder kept the bundle's 8-bit weights.
    cpu_decoder_int8: bool,
    /// One decoder step of the shipped model alone, 1 and 4 rows, CPU decoder then Burn's step.
    step_microseconds: Vec<StepSpeed>,
    /// Generation with the CPU decoder, then with Burn's step, each greedy and the default search.
    generation: Vec<GenerationSpeed>,
    /// Where `--device` is a GPU: of the speed prompts, how many greedy answers there have the
    /// ids of Burn's step on Flex.
    #[serde(skip_serializing_if = "Option::is_none")]
    device_greedy_equal: Option<usize>,
}

#[derive(Serialize)]
struct GenerationSpeed {
    decoder: String,
    search: &'static str,
    prompts: usize,
    tokens: usize,
    /// Median over the prompts: from the call to the first token's step.
    first_token_ms: f64,
    tokens_per_s: f64,
}

#[derive(Serialize)]
struct StepSpeed {
    decoder: String,
    rows: usize,
    microseconds: f64,
}

/// Decoder steps whose median [`time_steps`] reports: the same number whatever `--tokens` says,
/// so that figures stay comparable across runs (the cache it attends over grows each step).
const STEPS_TIMED: usize = 64;

/// Median time of one decoder step over `steps` steps from `<bos>` on a 12-token prompt, each
/// read back to the CPU as a search reads it: on `decoder` when given, else Burn's own step on
/// the model's device.
fn time_steps(
    model: &Seq2Seq,
    decoder: Option<&CpuDecoder>,
    rows: usize,
    steps: usize,
) -> anyhow::Result<f64> {
    let device = model.devices()[0].clone();
    let ids: Vec<i64> = (0..rows * 12).map(|i| 4 + (i as i64 * 37) % 200).collect();
    let prompt = Tensor::<2, Int>::from_data(TensorData::new(ids, [rows, 12]), &device);
    let mut state = model.start(model.encode(&EncoderInput::new(prompt)));
    let mut cpu_state = decoder.map(|d| d.start(&state)).transpose()?;
    let mut times = Vec::with_capacity(steps);
    for t in 0..steps {
        let last: Vec<usize> = (0..rows).map(|r| 4 + (t * 13 + r) % 100).collect();
        let start = Instant::now();
        if let (Some(decoder), Some(cpu_state)) = (decoder, cpu_state.as_mut()) {
            let _ = decoder.step(cpu_state, &last, false);
        } else {
            let ids: Vec<i64> = last.iter().map(|&i| i as i64).collect();
            let last = Tensor::<2, Int>::from_data(TensorData::new(ids, [rows, 1]), &device);
            let logits: Vec<f32> = model.step(&mut state, last).logits.into_data().try_into_vec()?;
            std::hint::black_box(logits);
        }
        times.push(start.elapsed().as_secs_f64() * 1e6);
    }
    Ok(median(times))
}

/// Notes when the first step of a generation is done.
struct FirstStep {
    start: Instant,
    at: Option<f64>,
}

impl Watch for FirstStep {
    async fn step(&mut self, _best: &[usize]) -> bool {
        self.at.get_or_insert_with(|| self.start.elapsed().as_secs_f64() * 1e3);
        true
    }
}

/// Generates for every speed prompt once to warm up, then times a second round.
/// Returns the speed and each prompt's generated ids.
fn time_generation(
    translator: &Translator,
    decoder: &str,
    search: (&'static str, Search),
    max_tokens: usize,
) -> anyhow::Result<(GenerationSpeed, Vec<Vec<usize>>)> {
    let options = GenerateOptions { search: search.1, max_tokens, ..GenerateOptions::default() };
    let (mut tokens, mut seconds, mut first, mut answers) = (0, 0.0, Vec::new(), Vec::new());
    for round in 0..2 {
        for prompt in SPEED_PROMPTS {
            let mut watch = FirstStep { start: Instant::now(), at: None };
            let generation = pollster::block_on(translator.generate_watched(prompt, &options, &mut watch))?;
            if round == 1 {
                seconds += watch.start.elapsed().as_secs_f64();
                tokens += generation.ids.len();
                first.push(watch.at.unwrap_or(f64::NAN));
                answers.push(generation.ids);
            }
        }
    }
    let speed = GenerationSpeed {
        decoder: decoder.to_string(),
        search: search.0,
        prompts: SPEED_PROMPTS.len(),
        tokens,
        first_token_ms: median(first),
        tokens_per_s: tokens as f64 / seconds,
    };
    Ok((speed, answers))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let device = crate::devices::parse(&args.device)?.remove(0);
    // As `Translator::new` decides whether it steps on the CPU.
    let on_gpu = device != Device::flex();
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
    // Each phase ends with the device's queue drained (Flex runs eagerly; a GPU does not).
    let (mut forward, mut backward, mut update) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..args.steps + 1 {
        let start = Instant::now();
        let loss = loss(&model, &batch, args.label_smoothing);
        let _ = loss.clone().into_scalar::<f32>();
        let forwarded = Instant::now();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        ad.sync()?;
        let backwarded = Instant::now();
        model = optimizer.step(1e-4, model, grads);
        ad.sync()?;
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
        ad.sync()?;
        encoder_ms.push(start.elapsed().as_secs_f64() * 1e3);
    }
    encoder_ms.remove(0);

    let bytes = std::fs::read(&args.model).map_err(|e| anyhow::anyhow!("{}: {e}", args.model.display()))?;
    let cpu = bundle::load(&bytes, &Device::flex())?;
    let burn = cpu.clone().without_cpu_decoder();
    // Off Flex a translator steps Burn's model: it has no CPU decoder.
    let gpu = on_gpu.then(|| bundle::load(&bytes, &device)).transpose()?;
    let gpu_name = format!("Burn on {}", args.device);
    let mut engines = vec![("CPU decoder".to_string(), &cpu), ("Burn step".to_string(), &burn)];
    engines.extend(gpu.as_ref().map(|gpu| (gpu_name.clone(), gpu)));
    let mut step_microseconds = Vec::new();
    for (name, translator) in &engines {
        for rows in [1, 4] {
            let microseconds = time_steps(&translator.model, translator.cpu_decoder(), rows, STEPS_TIMED)?;
            step_microseconds.push(StepSpeed { decoder: name.clone(), rows, microseconds });
        }
    }
    let searches = [("greedy", Search::Greedy), ("default (beam 4)", Search::DEFAULT)];
    let (mut generation, mut greedy_answers) = (Vec::new(), Vec::new());
    for (name, translator) in &engines {
        for search in searches {
            let (speed, answers) = time_generation(translator, name, search, args.tokens)?;
            if search.1 == Search::Greedy {
                greedy_answers.push(answers);
            }
            generation.push(speed);
        }
    }
    // Burn's step on Flex (the reference) against the same code on the GPU.
    let device_greedy_equal =
        on_gpu.then(|| greedy_answers[1].iter().zip(&greedy_answers[2]).filter(|(a, b)| a == b).count());

    let report = Report {
        threads: available_threads(),
        device: args.device.clone(),
        params,
        train_step_ms,
        forward_ms,
        backward_ms,
        optimizer_ms,
        train_target_tokens_per_s: (args.batch * args.length) as f64 / (train_step_ms / 1e3),
        encoder_forward_backward_ms: median(encoder_ms),
        cpu_decoder_int8: cpu.cpu_decoder().is_some_and(|d| d.is_int8()),
        step_microseconds,
        generation,
        device_greedy_equal,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("default model: {} parameters, {} threads", report.params, report.threads);
        println!(
            "training on {}: {:.0} ms a step on {}×{} tokens (forward {:.0}, backward {:.0}, AdamW {:.0}), {:.0} target tokens/s; encoder fwd+bwd {:.0} ms",
            report.device,
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
            "generation, {} ({} prompts, at most {} tokens each; CPU decoder weights {}):",
            args.model.display(),
            SPEED_PROMPTS.len(),
            args.tokens,
            if report.cpu_decoder_int8 { "int8" } else { "f32" }
        );
        for s in &report.step_microseconds {
            println!("  one step, {:<12} {} row(s): {:>6.0} µs", s.decoder, s.rows, s.microseconds);
        }
        for g in &report.generation {
            println!(
                "  {:<12} {:<17} first token {:>5.1} ms, {:>5} tokens, {:>6.0} tokens/s",
                g.decoder, g.search, g.first_token_ms, g.tokens, g.tokens_per_s
            );
        }
        if let Some(equal) = report.device_greedy_equal {
            println!(
                "  greedy on {}: {equal} of {} answers equal Burn's step on Flex",
                report.device,
                SPEED_PROMPTS.len()
            );
        }
    }
    Ok(())
}

fn available_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
