"""Images run a chunk at a time (`netspec run --input FOLDER`): a pool of threads decodes
the next chunk while the model runs this one (Pillow releases the GIL while it decodes and
resizes), so decoding keeps the model busy and memory holds two chunks of pixels, not the
whole folder; only the outputs, a few numbers per image, are kept."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import images
from .inputs import Inputs, find_images, require_read
from .progress import progress_bar
from .stream import split


def _decoded(file: images.ImageFile, input_shape, preprocessing):
    try:
        return file, *images.read_image(file.path, input_shape, preprocessing)
    except images.ImageError as problem:
        return images.Unread(file.path, str(problem)), None, ()


def run_images(model, paths, preprocessing, chunk_size: int,
               workers: int) -> tuple[Inputs, np.ndarray, float, float]:
    """The images that `paths` name run through `model`: what was read (as `Inputs`, without
    the pixels), the outputs of the images read, in order, the seconds taken in all and
    those the network took (after a first call that sets up its workspace, not counted,
    as for arrays: so that one image's report is the network's time, not Pillow's)."""
    found, skipped = find_images(paths)
    images.image_channels(model.input_shape)
    chunks = split(len(found.files), chunk_size)
    kept, notes, unread, outputs = [], [], list(found.unread), []
    model(np.zeros((1, *model.input_shape), dtype=np.float32))
    network_seconds = 0.0
    started = time.perf_counter()
    with ThreadPoolExecutor(workers, thread_name_prefix="netspec-decode") as pool, \
            progress_bar(len(found.files), "running") as bar:
        def decode(chunk):
            return [pool.submit(_decoded, file, model.input_shape, preprocessing)
                    for file in found.files[chunk.start:chunk.stop]]

        decoding = decode(chunks[0])
        for position, chunk in enumerate(chunks):
            done = [future.result() for future in decoding]
            if position + 1 < len(chunks):
                decoding = decode(chunks[position + 1])
            examples = [example for _, example, _ in done if example is not None]
            for read, example, note in done:
                (kept if example is not None else unread).append(read)
                notes.extend(note)
            if examples:
                batch = np.stack(examples)
                network_started = time.perf_counter()
                outputs.append(model(batch))
                network_seconds += time.perf_counter() - network_started
            bar.update(chunk.count)
    seconds = time.perf_counter() - started
    read = images.Images(np.empty(0), tuple(kept), tuple(notes), tuple(unread))
    require_read(read)
    inputs = Inputs(None, tuple(f.path for f in kept), tuple(f.folder for f in kept), skipped + read.notes, read.unread)
    return inputs, np.concatenate(outputs), seconds, network_seconds
