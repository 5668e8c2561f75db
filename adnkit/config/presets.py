"""The named presets: each a table of settings over the defaults (adnkit.config.settings.preset builds one).

  "paper"  DifferNet's published recipe (docs/method.md): 448 px, 3 scales, 8 GLOW blocks of width 2048,
           24 meta epochs x 8 sub epochs, batch 24 x 4 rotations, 64 test rotations. Meant for a GPU.
  "cpu"    A laptop in minutes: 256 px at 2 scales, a narrower flow, fewer epochs and rotations.
  "demo"   `adnkit demo`'s three runs in about five minutes on two cores: the cpu preset at 160 px (on ELPV the two
           sizes showed no difference, docs/benchmarks.md).
  "ci"     Seconds: tiny images and a tiny flow, for tests and notebook validation.
"""

PRESETS: dict[str, dict] = {
    "paper": {},
    "cpu": dict(
        image_size=256, scales=2, flow_blocks=8, flow_hidden=512, flow_hidden_layers=2,
        meta_epochs=4, sub_epochs=4, batch_size=24, train_transforms=4, test_transforms=4,
        feature_cache_views=16, device="cpu",
    ),
    "demo": dict(
        image_size=160, scales=2, flow_blocks=8, flow_hidden=512, flow_hidden_layers=2,
        meta_epochs=4, sub_epochs=4, batch_size=24, train_transforms=4, test_transforms=4,
        feature_cache_views=16, device="cpu",
    ),
    "ci": dict(
        image_size=128, scales=2, flow_blocks=2, flow_hidden=64, flow_hidden_layers=1,
        meta_epochs=2, sub_epochs=2, batch_size=8, train_transforms=2, test_transforms=2,
        feature_cache_views=4, device="cpu",
    ),
}
