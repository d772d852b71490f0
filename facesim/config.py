"""The one place for facesim's constants, so that training, inference and the index agree."""

from __future__ import annotations

import os
from pathlib import Path

from facesim.errors import FacesimError

PACKAGE_DIR = Path(__file__).resolve().parent
WEIGHTS_PATH = PACKAGE_DIR / "weights" / "encoder.pt"
MODEL_CARD_PATH = PACKAGE_DIR / "weights" / "model_card.json"
# The encoder as the gallery commands run it: WEIGHTS_PATH exported to ONNX (export_onnx), run by
# ONNX Runtime, so no gallery command imports torch. The graph takes uint8 chips and returns unit
# vectors; opset 18 is the first whose Resize has the antialias the training resize uses.
ONNX_PATH = PACKAGE_DIR / "weights" / "encoder.onnx"
ONNX_INPUT_NAME = "chips"
ONNX_OUTPUT_NAME = "vectors"
ONNX_OPSET = 18

# Aligned face chips follow dlib's convention (150 px, 25% padding) so that the dlib ResNet
# teacher and our encoder see exactly the same crop.
CHIP_SIZE = 150
CHIP_PADDING = 0.25
# The encoder looks at the chip resized to this many pixels a side.
INPUT_SIZE = 112
EMBEDDING_DIM = 128

# Detection looks for faces down to a minimum size in the photo's own pixels: MIN_FACE_PX, or
# MIN_FACE_FRACTION of the longer side where that is larger, because a face that small in a big
# photo is background. The photo is scaled so that this face fills DETECTOR_WINDOW_PX, the face
# width both dlib detectors find at their own scale (on LFW faces shrunk for the purpose, HOG
# missed faces under 65 px and the CNN under 75 px). So the cost of detection follows the face
# size sought, not the photo: photos up to 1,200 px long get a 1.67x copy, larger ones a smaller
# copy, never over 2,000 px long, so a 12 MP photo costs about what a 3 MP one does. 48 px, not
# face_recognition's 40 (its 2x upsample): on 300 photos of 400-1,200 px, HOG from 48 px cost
# 0.77 of HOG from 40 px and found the same share of the dlib pipeline's faces (0.987;
# `benchmarks/real_folder_speed.py --floors`), and a face under 48 px is one the encoder saw only
# as blurred augmentation.
DETECTOR_WINDOW_PX = 80
MIN_FACE_PX = 48
MIN_FACE_FRACTION = 0.04
# The CNN detector, where it only backs HOG up (a one-face question, `--detector thorough`), runs
# on a copy at most this long and never upsampled: it costs seconds per megapixel, and the faces
# HOG misses for their pose are rarely small ones.
CNN_FALLBACK_MAX_SIDE = 800
# Here rather than in detection.py, so that checking a --detector option does not import dlib.
# yunet: OpenCV's YuNet CNN (the default: turned heads too, and faster than HOG); hog: dlib's
# HOG; cnn: dlib's MMOD CNN (seconds a photo); thorough: HOG, then dlib's CNN on photos where HOG
# found nothing (faces turned past about 45 degrees, which HOG misses), on the bounded copy
# CNN_FALLBACK_MAX_SIDE sets.
DETECTORS: tuple[str, ...] = ("yunet", "hog", "cnn", "thorough")
DEFAULT_DETECTOR = "yunet"
# dlib's frontal face detector as `dlib.get_frontal_face_detector().save(path)` writes it. Loading
# this file takes about 2 ms; building the detector from the copy compiled into dlib takes 0.5 s.
HOG_DETECTOR_PATH = PACKAGE_DIR / "weights" / "dlib_frontal_face_detector.svm"

# YuNet (facesim/yunet.py), the default detector: OpenCV Zoo's file, shipped with its licence
# (weights/YUNET_LICENSE.md) and loaded only when its sha256 matches. A copy for scanning keeps
# its longest side at YUNET_MAX_SIDE or more, and shrinks no further than puts the smallest face
# sought at YUNET_SMALLEST_FACE_PX (YuNet finds faces from about 10 px).
YUNET_PATH = PACKAGE_DIR / "weights" / "face_detection_yunet_2023mar.onnx"
YUNET_SHA256 = "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4"
# The score a YuNet face needs: the lowest at which YuNet reported no more false faces than HOG
# (none) on 27 photos without people (scikit-image's and scikit-learn's sample photos, no_face.jpg),
# where 0.6 reported two; 0.9, OpenCV Zoo's demo value, lost 5% of CelebA's small, blurry faces
# (benchmarks/detector_choice.py).
YUNET_SCORE_THRESHOLD = 0.7
YUNET_NMS_THRESHOLD = 0.3
YUNET_MAX_SIDE = 640
YUNET_SMALLEST_FACE_PX = 20
# dlib's detectors draw a face YuNet finds as a square about the same centre, 1.14 times YuNet's
# box width (medians over 394 LFW training photos: centre offsets under 0.001 of the width;
# benchmarks/alignment.py). facesim draws YuNet's faces so, for the 5-point model trained on
# dlib's boxes.
YUNET_BOX_SCALE = 1.14
# Two detections of one face (another detector's, or the face found again on a damaged copy of
# the photo) overlap at least this much (box IoU).
SAME_FACE_IOU = 0.5
# YuNet looks for faces from 40 px, face_recognition's floor, where HOG stops at MIN_FACE_PX for
# its cost: YuNet's scan costs the same either way, and on 300 photos of 400-1,200 px the faces
# of 40-47 px were most of what it missed of the dlib pipeline's (benchmarks/real_folder_speed.py).
YUNET_MIN_FACE_PX = 40
# One face's box size differs by up to about 15% between detectors, so a YuNet face counts as
# large enough when its box, drawn as dlib's, is at least this share of the smallest face sought
# (HOG's own boxes vary as much around its window).
YUNET_MIN_FACE_SLACK = 0.8

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
HEIC_SUFFIXES = frozenset({".heic", ".heif"})
# Pillow's default bomb limit; larger images are refused rather than decoded.
MAX_IMAGE_PIXELS = 89_478_485

INDEX_ENV_VAR = "FACESIM_INDEX"
CACHE_ENV_VAR = "FACESIM_CACHE"


def default_index_dir() -> Path:
    """Per-user data directory, following XDG so that indexes survive cache clean-ups."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "facesim"


def resolve_index_dir(option: str | Path | None) -> Path:
    """`--index` wins, then $FACESIM_INDEX, then the per-user default; every command uses this."""
    if option:
        return Path(option).expanduser()
    env = os.environ.get(INDEX_ENV_VAR)
    if env:
        return Path(env).expanduser()
    return default_index_dir()


def cache_dir() -> Path:
    """Where training caches aligned chips and teacher vectors; never inside the repository."""
    env = os.environ.get(CACHE_ENV_VAR)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "facesim"


# --- The face index (the top-level `index` package) ---------------------------------------
# Files inside the gallery directory that resolve_index_dir() names.
GALLERY_DB_NAME = "gallery.db"
GALLERY_VECTORS_NAME = "faces.faiss"
GALLERY_LOCK_NAME = "index.store.lock"
# Photos per SQLite transaction: a crash loses at most this much work, while committing less
# often keeps fsyncs from dominating the cost of small photos.
INDEX_BATCH_SIZE = 32
# Photos whose chips share one encoder call, in either engine: one call for many chips costs
# less per photo than one per photo, while a worker interrupted or a Ray node lost mid-chunk has
# at most this many photos to redo. It is also the Ray Data batch size.
PHOTOS_PER_ENCODER_CALL = 8
# Exact search scans every vector: about 3.5 ms per query at 100k faces and 21 ms at 1M on one
# core, with recall 1 and in-place removal, but it holds 512 bytes a face that every `facesim
# match` reads from disk. Past IVFPQ_MIN_FACES the index becomes IVF-PQ: each face is a short code
# in one of IVFPQ_NLIST cells, a query scans IVFPQ_NPROBE cells, and the best
# IVFPQ_RERANK_FACTOR * k candidates are re-ranked with their exact vectors from SQLite, which
# brings recall@10 back to >= 0.99 (benchmarks/ivfpq_scale.py measures all of this).
IVFPQ_MIN_FACES = 2_000_000
IVFPQ_NLIST = 1024
IVFPQ_M = 16  # sub-vectors per face, so bytes of code per face at IVFPQ_NBITS = 8
IVFPQ_NBITS = 8
IVFPQ_NPROBE = 128
IVFPQ_RERANK_FACTOR = 10
# Vectors the cells and codebooks are learnt from: about 100 per cell, beyond which training only
# gets slower. The trained quantizer is stored beside the index and reused by every rebuild.
IVFPQ_TRAIN_SAMPLE = 100_000
# What one `--workers` process may hold (the encoder, the detectors, a decoded 12 MP photo): at most 0.5 GB. The
# default worker count never asks for more than the memory the kernel reports available.
WORKER_MEMORY_BYTES = 512 * 1024 * 1024
# How long a connection waits for another one's transaction before reporting the gallery busy.
SQLITE_BUSY_TIMEOUT_MS = 30_000

# --- `facesim clusters` -----------------------------------------------------------------------
# How two groups of faces must relate to become one person: every cross pair under the threshold
# (complete) or their mean (average). Complete won on real faces: BCubed F 0.922 against 0.842 on
# 2,196 LFW DevTest faces with dlib vectors (BENCHMARKS.md, "Clustering quality").
CLUSTER_LINKAGES = ("complete", "average")
DEFAULT_LINKAGE = "complete"
# Every rule `facesim calibrate` compares (issue 13) and `clusters --linkage` accepts: the two
# linkages; single linkage (connected faces under the cut, which chains); Chinese whispers (label
# propagation over the same graph); DBSCAN as Immich and PhotoPrism run it (a face with
# min_samples faces, itself included, under the cut is a core; cores under the cut join, other
# faces attach to their nearest core); HDBSCAN (the most stable clusters of single linkage over
# mutual reachability, under the cut); two-stage (complete-linkage cores at a tight core_cut, then
# each face left alone joins the core whose mean distance to it is under the cut).
CLUSTER_RULES = (*CLUSTER_LINKAGES, "single", "whispers", "dbscan", "hdbscan", "two-stage")
# Each rule's own parameters besides the cut, named as cluster_faces and the model card's
# "params" name them.
CLUSTER_RULE_PARAMS = {"dbscan": ("min_samples",), "hdbscan": ("min_samples",), "two-stage": ("core_cut",)}
# The grid each rule is calibrated on: cuts as fractions of the verification threshold, and the
# rules' own parameters. The chaining rules (single, whispers, DBSCAN) peaked at the grid's old
# floor of 0.70 on facesim's vectors, so it reaches down to 0.55. Immich's default minFaces is 3;
# 2 would make DBSCAN single linkage.
CLUSTER_CUT_FRACTIONS = (0.55, 0.60, 0.65, 0.70, 0.75, 0.80, 0.85, 0.90, 0.95, 1.00, 1.05, 1.10)
DBSCAN_MIN_SAMPLES = (3, 4)
# HDBSCAN's smallest cluster is 2 faces, since many persons in a photo collection (and most in the
# validation galleries) have only two. min_samples 1 is single linkage's tree pruned by stability;
# 2 is the same tree (a face's nearest neighbour is never farther than any edge it merges by), so
# the grid skips it.
HDBSCAN_MIN_CLUSTER_SIZE = 2
HDBSCAN_MIN_SAMPLES = (1, 3)
TWO_STAGE_CORE_FRACTIONS = (0.50, 0.60, 0.70, 0.80)

# --- One face against a gallery: match, photos of a photo, the join at index ----------------
# The cohort a query's distance is judged against (index.match.rule): the nearest people after
# the best one, at most MATCH_COHORT_PERSONS of them; with fewer than MATCH_COHORT_MIN_PERSONS
# (a gallery of a handful of people) there is no spread to judge by and that test is skipped.
MATCH_COHORT_PERSONS = 20
MATCH_COHORT_MIN_PERSONS = 5
# The grid `facesim calibrate` searches for the rule (index.match.calibration): the cut as a
# fraction of the pair threshold; the nearest-versus-next-person ratio and the cohort's z (None:
# without that test); the cut under which an accepted person's faces are listed, as a multiple of
# the cut. Each validation source is split into enrolled and stranger people MATCH_GALLERY_SEEDS
# ways, so the rule is not fitted to one draw.
MATCH_CUT_FRACTIONS = (0.45, 0.50, 0.55, 0.60, 0.65, 0.70, 0.75, 0.80, 0.85, 0.90, 0.95, 1.00, 1.05, 1.10)
MATCH_RATIOS = (None, 0.75, 0.80, 0.85, 0.90, 0.95)
MATCH_COHORT_Z = (None, 1.0, 2.0, 3.0, 4.0)
MATCH_LIST_FRACTIONS = (1.0, 1.1, 1.2)
MATCH_GALLERY_SEEDS = 3

# --- `facesim index --engine ray` -----------------------------------------------------------
# Ray's own connect retries for minutes; an address where nothing listens fails after this.
RAY_CONNECT_TIMEOUT_S = 5.0


def checked_detector(name: str) -> str:
    """A detector as a user named it: one line naming the choices when facesim has none by that
    name, before any photo is read."""
    if name not in DETECTORS:
        raise FacesimError(f"unknown detector {name!r}; choose one of: {', '.join(DETECTORS)}")
    return name
