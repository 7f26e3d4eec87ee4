"""The sampled-profile JSON of https://www.speedscope.app."""
import json

from . import split_python

DESCRIPTION = "JSON that https://www.speedscope.app opens"


def render(profile, options):
    frames, index = [], {}
    sample_list, weights = [], []
    for stack, count in sorted(profile.stacks.items()):
        ids = []
        for frame in stack.split(";"):
            if frame not in index:
                index[frame] = len(frames)
                entry = {"name": frame}
                py = split_python(frame)
                if py is not None:
                    entry = {"name": py[0], "file": py[1]}
                frames.append(entry)
            ids.append(index[frame])
        sample_list.append(ids)
        weights.append(count)
    return json.dumps({
        "$schema": "https://www.speedscope.app/file-format-schema.json",
        "shared": {"frames": frames},
        "profiles": [{
            "type": "sampled", "name": profile.command or "perftramp",
            # weights: samples, or nanoseconds (record --mode offcpu, wall)
            "unit": "nanoseconds" if getattr(profile, "unit", "") == "ns" else "none",
            "startValue": 0, "endValue": sum(weights),
            "samples": sample_list, "weights": weights,
        }],
        "name": "perftramp", "exporter": "perftramp",
    })
