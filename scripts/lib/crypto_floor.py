"""The crypto floor per request from the criterion figures of scripts/bench-verifier.sh:
envelope open + seal, verdict signing and the Play rule (medians, µs). Run as a script it prints
their sum, or 0 when a figure is missing (criterion skipped)."""
import glob
import json


def estimate(pattern):
    """The median of the criterion benchmark whose folder matches `pattern`, in µs, or None."""
    hits = sorted(glob.glob(f"target/criterion/{pattern}/new/estimates.json"))
    if not hits:
        return None
    return json.load(open(hits[0]))["median"]["point_estimate"] / 1000.0  # ns → µs


def parts():
    """{stage: µs or None} from target/criterion."""
    return {
        "envelope open + seal": estimate("envelope*/server*"),
        "verdict sign": estimate("verdict*/sign*"),
        "Play rule": estimate("rules*/google_play*"),
    }


if __name__ == "__main__":
    found = parts().values()
    print(round(sum(found), 1) if all(v is not None for v in found) else 0)
