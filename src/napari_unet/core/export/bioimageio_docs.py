"""The human-facing parts of a bioimage.io package: the cover picture and documentation.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

#: The napari-unet model file attached inside a package.
MODEL_ATTACHMENT = "model.unet.safetensors"

#: Name of the instance post-processing in the rdf's ``config.napari_unet``.
INSTANCE_POSTPROCESSING = "napari_unet.core.objects.watershed.instances_from_probabilities"


def cover_image(x: np.ndarray, y: np.ndarray, path: Path) -> None:
    """A 2:1 cover: the input (left) and the prediction (right), middle slice for 3D."""
    from skimage.io import imsave
    from skimage.transform import resize

    def mid(a: np.ndarray) -> np.ndarray:
        return a[a.shape[0] // 2] if a.ndim == 3 else a

    def grey(a: np.ndarray) -> np.ndarray:
        lo, hi = np.percentile(a, [1, 99])
        return np.clip((a - lo) / max(hi - lo, 1e-6), 0, 1)

    left = grey(mid(x[0, 0]))
    right = grey(mid(y[0, -1])) if y.shape[1] <= 3 else grey(mid(np.argmax(y[0], axis=0)))
    side = 256
    tiles = [resize(t, (side, side), order=0, anti_aliasing=False) for t in (left, right)]
    image = (np.concatenate(tiles, axis=1) * 255).astype(np.uint8)
    imsave(str(path), np.stack([image] * 3, axis=-1), check_contrast=False)


def instance_section(fitted: dict[str, Any] | None, task: str) -> str:
    """The documentation's "Objects" section: how the probabilities become objects, with the
    settings fitted at training (``model.meta["instance_options"]``) when there are any."""
    if task != "instances":
        return ""
    how = ("Objects come from the (background, interior, boundary) probabilities by a seeded "
           "watershed (`" + INSTANCE_POSTPROCESSING + "`): a pixel is foreground when "
           "`1 - p_background` reaches the foreground threshold; connected foreground pixels "
           "whose `p_interior` reaches the seed threshold are seeds; seeds smaller than the "
           "smallest seed are dropped; the seeds grow over the foreground.")
    if not fitted:
        return (f"\n## Objects (instance post-processing)\n{how}\nThis model was not fitted: "
                f"the defaults apply (foreground threshold 0.5, seed threshold 0.5, no "
                f"smallest seed).\n")
    return f"""
## Objects (instance post-processing)
{how}
Fitted at training on the labelled objects (F1 at IoU 0.5: {fitted.get('f1_at_0.5')}, with
the defaults {fitted.get('default_f1_at_0.5')}); kept in `rdf.yaml` under
`config.napari_unet.instance_postprocessing` and in the attached model file:
- foreground threshold: {fitted.get('foreground_threshold')}
- seed threshold: {fitted.get('seed_threshold')}
- smallest seed: {fitted.get('min_seed_pixels')} pixels (scaled by the pixel area/volume when
  napari-unet is given a physical spacing)
"""


def documentation(card: dict[str, Any], *, instance_options: dict[str, Any] | None = None) -> str:
    """The package's documentation.md from the model card (and the fitted instance options)."""
    arch = card["architecture"]
    classes = "\n".join(f"- {v}: {n}" for v, n in zip(card.get("classes", []),
                                                        card.get("class_names") or []))
    return f"""# {card['name']}

{card.get('description') or 'A U-Net trained interactively with napari-unet.'}

## Model
- Task: {card['task']}
- {arch['dims']}D U-Net (Ronneberger et al. 2015): depth {arch['depth']}, {arch['base_channels']}
  base channels, '{arch['padding']}' convolutions, {arch['norm']} normalisation,
  {arch['in_channels']} input channel(s), {arch['out_channels']} output channel(s).
- Halo (context per side for exact tiling): {card['sizes']['halo']}.

## Input
Image axes {card.get('axes')}; intensities scaled per image and channel so that the
{card['normalization'].get('low')} and {card['normalization'].get('high')} percentiles map to 0
and 1 (`scale_range`; mode {card['normalization'].get('mode')}).

## Output
{'Raw regression values.' if card['task'] == 'regression' else
 'Class probabilities (softmax over the channel axis); class k+1 is channel k:'}
{classes}
{instance_section(instance_options, card['task'])}
## Training
```
{card.get('train_config')}
```

## Validation
Metrics on the held-out painted pixels at the end of training: {card.get('validation')}.
The package's test tensors were produced by this exact network; a bioimage.io runtime
should reproduce them within float32 rounding.

## Use
In napari: the napari-unet Model widget loads `{MODEL_ATTACHMENT}` (attached). On the command
line: `napari-unet predict {MODEL_ATTACHMENT} IMAGE --out DIR`.

Exported {card['provenance']['date']} with napari-unet {card['provenance']['napari_unet']},
torch {card['provenance']['torch']}.
"""
