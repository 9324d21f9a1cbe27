"""Writes a model directory Dynamo's mocker can serve on a CPU: no weights, nothing downloaded.

    python examples/dynamo/make_model.py [DIR]      (default /tmp/planner-tui-dynamo/model)

``config.json`` (Llama-shaped), ``tokenizer.json`` (a word-level vocabulary of 2048 ids: the mocker
emits token ids in [1000, 2000), so a smaller vocabulary decodes replies empty), ``tokenizer_config.json``
with a chat template, and ``generation_config.json``. The tests (``tests/dynamo``) use the same function.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

DEFAULT_DIR = Path("/tmp/planner-tui-dynamo/model")

VOCAB_SIZE = 2048  # the mocker emits token ids in [1000, 2000): the vocabulary must cover them
CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['role'] }}: {{ message['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}"
)


def _special(token_id: int, content: str) -> dict[str, Any]:
    return {
        "id": token_id,
        "content": content,
        "single_word": False,
        "lstrip": False,
        "rstrip": False,
        "normalized": False,
        "special": True,
    }


def write_model(directory: Path) -> Path:
    """A Llama-shaped model directory the mocker can serve (no weights): config, tokenizer, template."""
    directory.mkdir(parents=True, exist_ok=True)
    specials = ["<unk>", "<s>", "</s>"]
    words = ["hello", "world", "the", "a", "user", "assistant", "system", ":", "please", "write", "story"]
    vocab: dict[str, int] = {token: i for i, token in enumerate(specials)}
    for word in words:
        vocab[word] = len(vocab)
    while len(vocab) < VOCAB_SIZE:
        vocab[f"w{len(vocab)}"] = len(vocab)
    tokenizer = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [_special(i, token) for i, token in enumerate(specials)],
        "normalizer": None,
        "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": None,
        "decoder": None,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "<unk>"},
    }
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": 256,
        "intermediate_size": 688,
        "num_attention_heads": 4,
        "num_key_value_heads": 4,
        "num_hidden_layers": 2,
        "head_dim": 64,
        "vocab_size": VOCAB_SIZE,
        "max_position_embeddings": 4096,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "torch_dtype": "bfloat16",
        "tie_word_embeddings": False,
    }
    tokenizer_config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "model_max_length": 4096,
        "add_bos_token": False,
        "add_eos_token": False,
        "chat_template": CHAT_TEMPLATE,
    }
    generation = {"bos_token_id": 1, "eos_token_id": 2}
    for name, data in (
        ("config.json", config),
        ("tokenizer.json", tokenizer),
        ("tokenizer_config.json", tokenizer_config),
        ("generation_config.json", generation),
    ):
        (directory / name).write_text(json.dumps(data, indent=1))
    return directory


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DIR
    print(write_model(target.absolute()))
