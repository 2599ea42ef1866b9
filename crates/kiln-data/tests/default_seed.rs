//! The loader's default seed comes from the global generator (own test binary: it seeds the
//! global generator, which other tests must not race with).

mod common;

use kiln_data::DataLoader;

#[test]
fn default_seed_comes_from_the_global_generator_and_an_explicit_one_leaves_it_alone() {
    kiln_tensor::manual_seed(123);
    let a = DataLoader::new(common::indexed(4)).shuffle(true);
    let order_a = a.batch_indices(0);
    kiln_tensor::manual_seed(123);
    let b = DataLoader::new(common::indexed(4)).shuffle(true);
    assert_eq!(a.get_seed(), b.get_seed());
    assert_eq!(order_a, b.batch_indices(0));

    kiln_tensor::manual_seed(7);
    let before = kiln_tensor::get_rng_state();
    let c = DataLoader::new(common::indexed(4)).seed(99).shuffle(true);
    let _ = c.iter().count();
    assert_eq!(c.get_seed(), 99);
    assert_eq!(
        kiln_tensor::get_rng_state(),
        before,
        "an explicit seed must not draw from the global generator"
    );
}
