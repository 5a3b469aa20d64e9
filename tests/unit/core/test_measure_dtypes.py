"""Half precision: tier 1 in bf16/fp16 is at least as close to the fp32 reference as eager attention in that dtype."""

import copy

import pytest
import torch
from transformers import AutoModelForCausalLM

from sinklab import metrics, models
from sinklab.measure import measure


@pytest.fixture(scope="module")
def shipped():
    """The course's embedded teaching model (genuine trained weights), eager attention, fp32."""
    return AutoModelForCausalLM.from_pretrained(models.embedded_model_path(), attn_implementation="eager").eval()


def batch():
    ids = torch.randint(0, 256, (4, 48), generator=torch.Generator().manual_seed(3))
    ids[:, 0] = 256  # <bos>
    mask = torch.ones_like(ids)
    mask[1, :5] = 0  # left padding
    mask[3, :17] = 0
    ids[1, 5], ids[3, 17] = 256, 256
    return {"input_ids": ids, "attention_mask": mask}


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_tier1_in_half_precision_is_as_close_as_eager(shipped, dtype):
    inputs = batch()
    real = inputs["attention_mask"].bool()[:, None, None, :]
    reference = measure(shipped, inputs).first_mass  # fp32: equal to eager to 1e-5 (tests/test_measure.py)
    half = copy.deepcopy(shipped).to(dtype)
    ours = measure(half, inputs).first_mass
    with torch.no_grad():
        attentions = half(**inputs, output_attentions=True).attentions
    eager = torch.stack([metrics.first_token_mass(a.float(), inputs["attention_mask"]) for a in attentions], 1)
    our_error = ((ours - reference).abs() * real).max().item()
    eager_error = ((eager - reference).abs() * real).max().item()
    print(f"{dtype}: sinklab {our_error:.2e}, eager {eager_error:.2e} from the fp32 reference")
    assert our_error <= eager_error, f"{dtype}: sinklab {our_error:.2e} vs eager {eager_error:.2e}"
