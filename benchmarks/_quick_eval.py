import sys, yaml, time
from pathlib import Path
from collections import Counter
from bot.content import load_knowledge
from bot.text import Lexicon
from bot.triage import Triage
from bot.matcher import Matcher
kb = load_knowledge(Path("knowledge"))
tri = Triage(kb.safety, kb.language.negations)
lex = Lexicon(kb.language, Matcher.vocabulary(kb.entries.values()) + tri.vocabulary())
m = Matcher(kb.entries.values(), lex)
items = yaml.safe_load(open("benchmarks/eval_set.yaml"))
oos = {e.id for e in kb.entries.values() if e.kind=="out_of_scope"}
stats = Counter(); fails=[]
for it in items:
    toks = lex.tokens(it["text"]); t = tri.assess(toks); exp = it["expect"]
    if exp in ("red_flag","crisis"):
        want = {"red_flag":("emergency","urgent"),"crisis":("crisis",)}[exp]
        ok = t is not None and t.level in want
        stats[exp+("_ok" if ok else "_miss")]+=1
        if not ok: fails.append((exp, t, it["text"]))
        continue
    if t is not None:
        stats["false_alarm"]+=1; fails.append(("FALSE ALARM", t, it["text"]))
    r = m.match_tokens(toks)
    got = r.best.entry_id if r.best else None
    if exp == "out_of_scope":
        ok = r.outcome=="fallback" or got in oos
        stats["oos_ok" if ok else "oos_bad"]+=1
        if not ok: fails.append(("OOS", r.outcome, r.candidates, it["text"]))
    else:
        stats["in_top1" if got==exp else "in_wrong"]+=1
        stats["in_"+r.outcome+("_ok" if got==exp else "_bad")]+=1
        if got!=exp or r.outcome!="answer": fails.append((exp, r.outcome, r.candidates, it["text"][:150]))
print(stats)
if "-v" in sys.argv:
    for f in fails: print(f)
