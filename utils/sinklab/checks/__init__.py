"""Learner-facing exercise checks: recognise typical mistakes by name before comparing numbers.

Every check calls the learner's function on fixed inputs and compares with a reference. If the
answer is wrong, it first compares with the answers that typical mistakes produce (softmax over
the wrong axis, a missing causal mask, …) and names the mistake; otherwise it reports the largest
difference. A stub that still raises NotImplementedError is not caught: the notebook stops there.

One module per chapter (`ch0` … `ch6`, in chapter order); a new chapter's checks go in its own
module and are re-exported here, so notebooks keep writing `from sinklab.checks import check_…`.
"""

from sinklab.checks._core import CheckFailed, compare
from sinklab.checks.ch0 import (
    check_first_token_share,
)
from sinklab.checks.ch1 import (
    GQA_MISTAKES,
    check_apply_rope,
    check_attention,
    check_causal_attention,
    check_dormant_head,
    check_grouped_query_attention,
    check_llama_attention,
    check_repeat_kv,
    check_rope_cos_sin,
    check_softmax_one,
    check_split_heads,
)
from sinklab.checks.ch2 import (
    check_adds_bos,
    check_first_token_mass_per_head,
    check_importance_per_key,
    check_importance_score,
    check_patch_kv_heads,
    check_sink_rate,
    check_uniform_importance,
)
from sinklab.checks.ch3 import (
    check_attention_memory_gib,
    check_first_and_rest_norms,
    check_first_mass_from_lse,
    check_make_ablation_hook,
    check_streaming_mask,
)
from sinklab.checks.ch4 import (
    check_first_key_cosine,
    check_first_token_states,
    check_make_patch_hook,
    check_move_bos,
    check_sink_rate_at_key,
    check_swap_rows,
)
from sinklab.checks.ch5 import (
    check_jacobian_norm_map,
    check_path_products,
    check_rank_one_distance,
    check_repeat_gap,
    check_uniform_residual_distance,
)
from sinklab.checks.ch6 import (
    check_document_position_ids,
    check_onset_step,
    check_pack_with_bos,
    check_sink_logit_weights,
    check_split_first_token_mass,
    check_unnormalised_weights,
)

__all__ = [
    "CheckFailed",
    "compare",
    "check_first_token_share",
    "check_attention",
    "check_causal_attention",
    "check_split_heads",
    "check_repeat_kv",
    "check_grouped_query_attention",
    "check_rope_cos_sin",
    "check_apply_rope",
    "check_llama_attention",
    "check_softmax_one",
    "check_dormant_head",
    "GQA_MISTAKES",
    "check_first_token_mass_per_head",
    "check_importance_score",
    "check_sink_rate",
    "check_adds_bos",
    "check_importance_per_key",
    "check_patch_kv_heads",
    "check_uniform_importance",
    "check_first_mass_from_lse",
    "check_attention_memory_gib",
    "check_streaming_mask",
    "check_first_and_rest_norms",
    "check_make_ablation_hook",
    "check_first_token_states",
    "check_first_key_cosine",
    "check_move_bos",
    "check_sink_rate_at_key",
    "check_swap_rows",
    "check_make_patch_hook",
    "check_rank_one_distance",
    "check_jacobian_norm_map",
    "check_path_products",
    "check_uniform_residual_distance",
    "check_repeat_gap",
    "check_split_first_token_mass",
    "check_unnormalised_weights",
    "check_sink_logit_weights",
    "check_pack_with_bos",
    "check_document_position_ids",
    "check_onset_step",
]
