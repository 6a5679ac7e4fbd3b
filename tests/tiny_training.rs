//! Decoding end to end on a model trained inside the test: a tiny Transformer learns six
//! fixture pairs by heart, then greedy, beam and low-temperature sampling must give back the
//! code of each prompt, with the prompt's names and strings restored, and attention of the
//! right shape. Also: a bundle written from it loads back and generates the same tokens.

use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::Device;
use nl2py::bundle::{self, Precision};
use nl2py::data::SourceKind;
use nl2py::data::batch::{Batch, EncodedExample};
use nl2py::data::prepare::{PrepareConfig, SourceFile, Split, prepare};
use nl2py::decode::{GenerateOptions, Search, Translator};
use nl2py::model::Seq2SeqConfig;
use nl2py::train::loss;

fn trained() -> (Translator, Vec<(String, String)>) {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tiny/pairs.jsonl"))
            .unwrap();
    let files = [SourceFile {
        name: "python-docs.jsonl".into(),
        kind: SourceKind::ApiDocs,
        text,
        companion: None,
        members: Vec::new(),
    }];
    let prepared = prepare(&files, &PrepareConfig { min_freq: 1, ..Default::default() });
    let examples = &prepared.splits[&Split::Pretrain];
    assert_eq!(examples.len(), 6);
    let config = Seq2SeqConfig::new(prepared.prompt_vocab.len(), prepared.code_vocab.len())
        .with_d_model(32)
        .with_heads(2)
        .with_d_ff(64)
        .with_encoder_layers(1)
        .with_decoder_layers(1)
        .with_dropout(0.0)
        .with_max_prompt_len(16)
        .with_max_code_len(32);
    let device = Device::flex();
    device.seed(7);
    let training = device.clone().autodiff();
    let mut model = config.init(&training);
    let encoded: Vec<EncodedExample> = examples
        .iter()
        .map(|e| EncodedExample::new(e, &prepared.prompt_vocab, &prepared.code_vocab, 16, 32))
        .collect();
    let batch = Batch::new(encoded, &training);
    let mut optimizer = AdamWConfig::new().init();
    let mut last = f32::MAX;
    for _ in 0..300 {
        let loss = loss(&model, &batch, 0.0);
        last = loss.clone().into_scalar::<f32>();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optimizer.step(3e-3, model, grads);
        if last < 0.01 {
            break;
        }
    }
    assert!(last < 0.05, "the tiny model did not learn its six pairs: loss {last}");
    let model = burn::module::Module::valid(&model);
    let translator =
        Translator::new(model, config, prepared.prompt_vocab, prepared.code_vocab, true, None, device)
            .unwrap();
    let pairs = examples.iter().map(|e| (e.prompt.clone(), e.snippet.clone())).collect();
    (translator, pairs)
}

fn generate(t: &Translator, prompt: &str, search: Search) -> nl2py::Result<nl2py::decode::Generation> {
    pollster::block_on(
        t.generate(
            prompt,
            &GenerateOptions { search, max_tokens: 30, attention: true, ..Default::default() },
        ),
    )
}

#[test]
fn a_tiny_trained_model_decodes_every_way() {
    let (translator, pairs) = trained();
    let searches = [
        Search::Greedy,
        Search::Beam { width: 3, length_penalty: 0.6 },
        Search::Sample { temperature: 0.01, top_k: 5, top_p: 0.9, seed: 1 },
    ];
    for (prompt, snippet) in &pairs {
        let expected = nl2py::text::code::detokenize(&nl2py::text::code::tokenize(snippet).unwrap());
        for search in searches {
            let g = generate(&translator, prompt, search).unwrap();
            assert_eq!(g.code, expected, "{search:?} on {prompt:?}");
            let attention = g.attention.as_ref().unwrap();
            assert_eq!(attention.steps(), g.output_tokens.len());
            assert_eq!((attention.layers, attention.heads, attention.source), (1, 2, g.prompt_tokens.len()));
            let total: f32 = attention.mean(0, None, None).iter().sum();
            assert!((total - 1.0).abs() < 1e-3, "attention rows sum to 1, got {total}");
        }
    }
    // Names and strings come from the prompt, not the training data.
    let renamed = generate(&translator, "reverse list `queue`", Search::Greedy).unwrap();
    assert_eq!(renamed.code, "queue[::-1]\n");

    assert!(matches!(generate(&translator, "   ", Search::Greedy), Err(nl2py::Error::EmptyPrompt)));
    assert!(matches!(generate(&translator, "zzz qqq", Search::Greedy), Err(nl2py::Error::UnknownPrompt(_))));
    let long: String = "reverse list ".repeat(20);
    assert!(generate(&translator, &long, Search::Greedy).unwrap().truncated);
    assert!(generate(&translator, "🐍 reverse list `x` ü", Search::Greedy).is_ok());

    // A watcher sees every step's best output and can stop the generation early.
    struct StopAfter(usize, Vec<Vec<usize>>);
    impl nl2py::decode::Watch for StopAfter {
        async fn step(&mut self, best: &[usize]) -> bool {
            self.1.push(best.to_vec());
            self.1.len() < self.0
        }
    }
    let (prompt, _) = pairs.iter().max_by_key(|(_, code)| code.len()).unwrap();
    let full = generate(&translator, prompt, Search::Greedy).unwrap();
    assert!(full.ids.len() > 2);
    for search in [Search::Greedy, Search::Beam { width: 3, length_penalty: 1.0 }] {
        let mut watch = StopAfter(2, Vec::new());
        let options = GenerateOptions { search, max_tokens: 30, attention: true, ..Default::default() };
        let stopped = pollster::block_on(translator.generate_watched(prompt, &options, &mut watch)).unwrap();
        assert_eq!(stopped.ids, full.ids[..2], "{search:?}");
        assert_eq!(watch.1, [&full.ids[..1], &full.ids[..2]], "{search:?}");
        assert_eq!(stopped.attention.unwrap().steps(), 2);
    }

    // Export → load → generate gives the same tokens as the model in memory.
    for precision in [Precision::F32, Precision::F16, Precision::Int8] {
        let bytes = bundle::export(&translator, precision, Default::default()).unwrap();
        let loaded = bundle::load(&bytes, &Device::flex()).unwrap();
        for (prompt, _) in &pairs {
            let a = generate(&translator, prompt, Search::Greedy).unwrap();
            let b = generate(&loaded, prompt, Search::Greedy).unwrap();
            assert_eq!(a.ids, b.ids, "{precision:?} bundle on {prompt:?}");
        }
    }
}
