#!/usr/bin/env python3
"""Builds fuzz/keys.json and fuzz/seeds/<target>/ from the RFC 7516 / RFC 7520 vectors in
test-vectors/. Run from the fuzz/ directory: python3 make-seeds.py"""
import base64, glob, hashlib, json, os

keys, seen, compact, js = [], set(), [], []

def addkey(k):
    if not isinstance(k, dict):
        return
    s = json.dumps(k, sort_keys=True)
    if s not in seen:
        seen.add(s)
        keys.append(k)

files = sorted(glob.glob('../test-vectors/rfc7520-cookbook/jwe/*.json')) + [
    '../test-vectors/rfc7520-cookbook/curve25519/ecdh-es.json',
    '../test-vectors/rfc7520-cookbook/6.nesting_signatures_and_encryption.json']
for f in files:
    d = json.load(open(f))
    for d in (d if isinstance(d, list) else [d]):
        inp = d.get('input', {})
        k = inp.get('key')
        for x in (k if isinstance(k, list) else [k]):
            addkey(x)
        if 'pwd' in inp:
            addkey({"kty": "oct", "k": base64.urlsafe_b64encode(inp['pwd'].encode()).decode().rstrip('=')})
        out = d.get('output', {})
        if 'compact' in out:
            compact.append(out['compact'])
        for m in ('json', 'json_flat'):
            if m in out:
                js.append(json.dumps(out[m]))
for f in glob.glob('../test-vectors/rfc7516/*.json'):
    v = json.load(open(f))
    if 'compact' in v:
        compact.append(v['compact'])
    for m in ('json_general', 'json_flattened'):
        if m in v:
            js.append(json.dumps(v[m]))
    addkey(v.get('recipient_jwk'))
    for r in v.get('recipients', []) or []:
        if isinstance(r, dict):
            for kk in ('jwk', 'recipient_jwk'):
                addkey(r.get(kk))
json.dump({"keys": keys}, open('keys.json', 'w'), indent=1)
for name, items in (('decrypt_compact', compact), ('decrypt_json', js), ('jwk_parse', [json.dumps(k) for k in keys])):
    os.makedirs('seeds/' + name, exist_ok=True)
    for it in items:
        open('seeds/%s/%s' % (name, hashlib.sha1(it.encode()).hexdigest()[:16]), 'w').write(it)
print(len(keys), 'keys', len(compact), 'compact', len(js), 'json')
