"""The command line's vocabulary: what --help says each option and argument takes, and the
options several commands share. Kept apart from the commands (as PhotoPrism keeps its flags in
internal/config) so that each parameter stays one line of its command and every text is in one
place to read and reword."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer


def plain_help() -> None:
    """Typer 0.29 prints each parameter's Python type (`--version <bool>`, `--export <str>`) and
    puts required arguments in braces (`{PERSON}`); the help text says in words what each one
    takes, so flags and arguments are shown as their names alone, a text option with its name
    (`--export EXPORT`), and only numbers and paths keep their type. Older Typers print neither
    and are left as they are."""
    from typer import core

    option, argument = getattr(core, "TyperOption", None), getattr(core, "TyperArgument", None)
    if option is None or not hasattr(option, "display_type_rich") or not hasattr(argument, "_usage_display_name"):
        return
    typed = option.display_type_rich

    def value(self: Any, ctx: Any) -> str | None:
        shown = None if self.is_flag else typed(self, ctx)
        return self.name.upper() if shown == "<str>" else shown  # --export EXPORT, not --export <str>

    option.display_type_rich = value
    argument.display_type_rich = lambda self, ctx: None
    usage = argument._usage_display_name
    argument._usage_display_name = lambda self: usage(self).replace("{", "").replace("}", "")


# What --help says each option and argument takes, apart from the signatures so that each
# parameter stays one line of its command.
HELP = {
    "index": "Gallery folder (default: $FACESIM_INDEX or the per-user data dir).",
    "json": "Print machine-readable JSON.",
    "celeba": "CelebA folder with celebA/ and identity_CelebA.txt; the reserved identities are dropped unread.",
    "utkface": "UTKFace folder of aligned crops (unlabelled; distillation only).",
    "detector": "Face detector: yunet (OpenCV's CNN, the default: fast, turned heads too), hog (dlib), cnn (dlib "
    "MMOD, many times slower) or thorough (hog, then cnn on photos where hog found nothing).",
    "lfw": "LFW root with images/<Name>/ and the pairs files.",
    "cache": "Chip cache dir (default: $FACESIM_CACHE or ~/.cache).",
    "person": "A person's id or name, as listed by `facesim clusters`.",
    "faces": "Face ids, as listed by `clusters --export` and `match`.",
    "workers": "Processes for decoding, detection and embedding (default: one per usable core, "
    "as memory allows, about 0.5 GB each).",
    "retry_no_face": "Look again at photos where no face was found by this same detector (photos another detector "
    "examined are always looked at again).",
    "reembed": "Re-embed photos whose vectors an older model made.",
    "engine": "local: this machine (--workers processes); ray: a Ray cluster.",
    "address": "With --engine ray: the cluster's HOST:PORT or auto "
    "(default: $RAY_ADDRESS, else a running local cluster, else a new one).",
    "exclude": "Skip paths matching GLOB (relative to PATH, a folder, a name or absolute; repeatable).",
    "queries": "Photos of the people to look for, or folders of them (searched recursively).",
    "match_all_faces": "Search for every face in a query, not only the main one.",
    "every_match": "List every face of the matching person, however many, instead of --top-k.",
    "photos_person": "A person's id or name, or a photo of them: list every photo of the person (stored persons).",
    "status": "Only photos with this status: indexed, no_face, error or gone.",
    "export": "Write the persons shown (every face with --min-size 1) as csv, json or html, or xmp: "
    "MWG face regions in a sidecar beside each photo and each of its copies.",
    "output": "File to write the --export to (default: stdout); for xmp, a folder to put the sidecars in "
    "instead of beside the photos.",
    "xmp_naming": "Sidecar names: name.jpg.xmp (digiKam, darktable) or name.xmp (Lightroom; digiKam can read either).",
    "replace_sidecars": "Write over sidecars that facesim did not write (kept and listed otherwise).",
    "linkage": "Re-cluster to try another rule, without storing it unless --apply. complete: every two faces of "
    "a person are under the cut; average: their groups' mean distance is (merges more, splits less); "
    "single, whispers (Chinese whispers), dbscan, hdbscan, two-stage: the other rules calibration compared. "
    "Each runs at its own calibrated cut and parameters; the default is the model card's calibrated rule.",
    "apply": "Re-cluster and store the result as the gallery's persons (names stay with their ids).",
    "move_to": "A person's id or name, or `new`: a new person of these faces.",
    "reject_from": "The person they are not (default: each face's person now).",
    "each": "Each face becomes a person of its own, instead of one person together.",
    "new_name": "Name the new person the faces make together.",
    "unreject_from": "Take back only the reject from this person.",
    "verify_all_faces": "Compare every face of A with every face of B; report the closest pair.",
    "verify_pairs": "CSV with path_a,path_b columns (relative to the CSV): answer every pair in one process.",
    "evaluate_pairs": "CSV of path_a,path_b,label (1 = same person).",
    "evaluate_lfw": "LFW root: evaluate on View 1 DevTest.",
    "epochs": "Passes over the training people's faces (default: the trainer's).",
    "init_from": "Fine-tune these weights instead of starting from random ones.",
    "learning_rate": "Peak learning rate of the cosine schedule (default: the trainer's).",
    "contrastive_weight": "Contrastive term weight beside distillation; 0 distils only (default: the trainer's).",
    "sface": "Folder holding SFace's model file (face_recognition_sface_2021dec.onnx, hash-checked): SFace labels the "
    'chips beside dlib\'s ResNet (README, "Two teachers").',
    "views": "Augmented views of each photo (scale, turn, blur, JPEG, low light, grey, occlusion) the teachers label.",
    "target": "What the student distils: dlib, sface or concat (both teachers' unit vectors side by side).",
    "sface_weight": "SFace's share of the concat target (default: the trainer's).",
    "pack_to": "Write the training chips to this one file for a GPU machine "
    "(python -m facesim.training.train_packed), instead of training here.",
    "calibrate_weights": "Encoder to calibrate, .onnx or .pt (default: the package's).",
    "match_only": "Recalibrate only the match rule, on the held-out people's faces alone (found, aligned and "
    "embedded in minutes, cached), keeping the threshold and clustering rule.",
    "repair": "Rebuild the FAISS file from SQLite, mark missing photos gone, and copy what a damaged gallery.db "
    "still holds into a new one (the damaged file is kept); never touches photos.",
}
# The parameters several commands share.
IndexOption = Annotated[Path | None, typer.Option("--index", help=HELP["index"])]
JsonOption = Annotated[bool, typer.Option("--json", help=HELP["json"])]
DetectorOption = Annotated[str, typer.Option("--detector", help=HELP["detector"])]
LfwOption = Annotated[Path, typer.Option("--lfw", help=HELP["lfw"], file_okay=False)]
CelebaOption = Annotated[Path | None, typer.Option("--celeba", help=HELP["celeba"], file_okay=False)]
CacheOption = Annotated[Path | None, typer.Option(help=HELP["cache"])]
PersonArgument = Annotated[str, typer.Argument(metavar="PERSON", help=HELP["person"])]
FacesArgument = Annotated[list[int], typer.Argument(metavar="FACE", help=HELP["faces"])]
