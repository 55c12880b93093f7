#!/usr/bin/python3
"""N synthetic items for bench/eval: COPA-style (English word salad with
COPA's fields and lengths), or with --letters MMLU-style items in the generic
pre-rendered form (a question of 20-40 words and four options in the context,
choices "A".."D"). Usage: make_items.py N OUT.jsonl [--letters]"""
import json
import random
import sys

WORDS = ("the man woman child dog cat house door window car street rain sun bottle water glass "
         "table chair book letter friend teacher doctor garden tree river bridge city night morning "
         "broke opened closed found lost dropped carried washed painted cooked called visited "
         "quickly slowly suddenly quietly because again never always nearby outside inside").split()


def sentence(rng, lo, hi):
    words = [rng.choice(WORDS) for _ in range(rng.randint(lo, hi))]
    return " ".join(words).capitalize() + "."


def main():
    n, out = int(sys.argv[1]), sys.argv[2]
    rng = random.Random(1234)
    if "--letters" in sys.argv[3:]:
        with open(out, "w") as f:
            for i in range(n):
                options = "\n".join(f"{c}. {sentence(rng, 3, 8)}" for c in "ABCD")
                context = f"Question: {sentence(rng, 20, 40)}\n{options}\nAnswer:"
                item = {"id": f"m{i}", "context": context, "choices": list("ABCD"), "label": rng.randint(0, 3)}
                f.write(json.dumps(item) + "\n")
        return
    with open(out, "w") as f:
        for i in range(n):
            item = {"id": f"b{i}", "premise": sentence(rng, 5, 12), "choice1": sentence(rng, 4, 9),
                    "choice2": sentence(rng, 4, 9), "question": rng.choice(["cause", "effect"]),
                    "label": rng.randint(0, 1)}
            f.write(json.dumps(item) + "\n")


if __name__ == "__main__":
    main()
