"""The one scorer: datasets, tensors and cached embeddings give the same scores, honouring every setting."""

import numpy as np
import pytest
import torch

from adnkit.config.settings import preset
from adnkit.model.differnet import DifferNet
from adnkit.model.scoring import embed_test_views, score_dataset, score_embeddings, score_images, scoring_angle_fn

pytestmark = pytest.mark.usefixtures("one_thread")


class Images(torch.utils.data.Dataset):
    def __init__(self, images):
        self.images = images

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i], i


def _images(n, seed=0):
    return torch.randint(0, 256, (n, 3, 128, 128), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


@pytest.mark.parametrize("random_rotations", [False, True])
def test_dataset_tensor_and_embedding_paths_agree(random_rotations):
    model = DifferNet(preset("ci", pretrained="random", test_transforms=3,
                             random_test_rotations=random_rotations)).eval()
    images = _images(3)
    from_dataset = score_dataset(model, Images(images))
    with torch.no_grad():
        from_tensor = score_images(model, images).double().numpy()
    from_cache = score_embeddings(model, embed_test_views(model, Images(images))).numpy()
    np.testing.assert_allclose(from_dataset, from_tensor, rtol=1e-4)
    np.testing.assert_array_equal(from_dataset, from_cache)


def test_random_test_rotations_are_honoured_and_reproducible():
    fixed = DifferNet(preset("ci", pretrained="random", test_transforms=3)).eval()
    rand = DifferNet(preset("ci", pretrained="random", test_transforms=3, random_test_rotations=True)).eval()
    rand.load_state_dict(fixed.state_dict())
    images = _images(2, seed=1)
    angles = scoring_angle_fn(rand.cfg, 2)(torch.arange(2))
    assert not torch.equal(angles, scoring_angle_fn(fixed.cfg, 2)(torch.arange(2)))
    assert torch.equal(angles, scoring_angle_fn(rand.cfg, 2)(torch.arange(2)))  # seeded: the same every call
    with torch.no_grad():
        assert not torch.allclose(score_images(rand, images), score_images(fixed, images))
        torch.testing.assert_close(score_images(rand, images), score_images(fixed, images, angles))
