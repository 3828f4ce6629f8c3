#!/usr/bin/env python3
"""Import circles between the source files of a crate (default: server/src).

A file depends on another when it names an item of the other's module (`crate::…`, `super::…`,
`self::…`). A parent module and the children it declares are one unit and not counted (a child
sees its parent's items by design). Prints every circle of two or more files.

    ./admin/import-circles.py [DIR]
"""
import glob, os, re, sys
os.chdir(sys.argv[1] if len(sys.argv) > 1 else 'server/src')
files=[f for f in glob.glob('**/*.rs',recursive=True)]
def modpath(f):
    p=f[:-3].split('/')
    if p[-1] in ('mod','lib'): p=p[:-1]
    return '::'.join(['crate']+p)
mods={modpath(f):f for f in files}
edges={f:set() for f in files}
for f in files:
    s=open(f).read().split('#[cfg(test)]')[0]
    selfmod=modpath(f); supermod='::'.join(selfmod.split('::')[:-1])
    for m in re.finditer(r'\b(crate|super|self)((?:::[a-z_][a-z_0-9]*)+)',s):
        base={'crate':'crate','super':supermod,'self':selfmod}[m.group(1)]
        parts=(base+m.group(2)).split('::')
        for k in range(len(parts),1,-1):
            cand='::'.join(parts[:k])
            if cand in mods and mods[cand]!=f:
                edges[f].add(mods[cand]); break
idx={};low={};st=[];on=set();res=[];c=[0]
sys.setrecursionlimit(10000)
def sc(v):
    idx[v]=low[v]=c[0];c[0]+=1;st.append(v);on.add(v)
    for w in edges[v]:
        if w not in idx: sc(w);low[v]=min(low[v],low[w])
        elif w in on: low[v]=min(low[v],idx[w])
    if low[v]==idx[v]:
        comp=[]
        while True:
            w=st.pop();on.discard(w);comp.append(w)
            if w==v:break
        res.append(comp)
for v in files:
    if v not in idx: sc(v)
big = [comp for comp in res if len(comp) > 1]
for comp in big:
    print(len(comp), ' '.join(sorted(comp)))
print(f"{len(files)} files, {len(big)} circles, the largest of {max(map(len, big), default=0)} files")
