//! The same model code on Burn's wgpu runtime natively: on a machine without a GPU, Mesa's
//! software Vulkan (llvmpipe, Debian's `mesa-vulkan-drivers`) is the adapter. A bundle loaded
//! on wgpu generates the tokens it generates on Flex, with the same attention.
//! Run with `cargo test --release --features wgpu --test wgpu_native` (scripts/test.sh does).

use burn::tensor::{Device, DeviceKind};
use nl2py::bundle;
use nl2py::decode::{GenerateOptions, Search};

/// The browser tests' small bundle (see web/tests/fixtures/README.md).
const TINY: &[u8] = include_bytes!("../web/tests/fixtures/tiny.nl2py");

#[test]
fn wgpu_generates_what_flex_generates() {
    let flex = bundle::load(TINY, &Device::flex()).unwrap();
    let wgpu = bundle::load(TINY, &Device::wgpu(DeviceKind::DefaultDevice)).unwrap();
    for prompt in [
        "write a python program to add two numbers",
        "sort list `d` by value",
        "do task 3 with list `xs` and separator ','",
    ] {
        for search in [Search::Greedy, Search::Beam { width: 3, length_penalty: 1.0 }] {
            let options = GenerateOptions { search, max_tokens: 24, attention: true, ..Default::default() };
            let a = pollster::block_on(flex.generate(prompt, &options)).unwrap();
            let b = pollster::block_on(wgpu.generate(prompt, &options)).unwrap();
            assert_eq!(a.ids, b.ids, "{prompt} {search:?}");
            let (a, b) = (a.attention.unwrap(), b.attention.unwrap());
            let largest = a.weights.iter().zip(&b.weights).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
            assert!(largest < 1e-3, "{prompt}: attention differs by {largest}");
        }
    }
}
