"""Compose what an issue folder holds: the manifest, the template parts, and the
first recipient's copy of both parts and of the message, made by the one message
builder (deliver.message), so message.eml is exactly what `digest send` sends (less
the DKIM-Signature header, which is made as the message leaves)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from email.utils import parseaddr

from digest.config.load import is_web
from digest.config.schema import Config
from digest.deliver.message import MessageTemplate
from digest.deliver.recipients import Recipient, RecipientList, load_recipients
from digest.enrich.pictures import ImageFile
from digest.models import RenderedIssue
from digest.outbox.folder import ImageRecord, IssueFiles, Manifest, VariantRecord


def first_recipient(config: Config, listed: RecipientList | None = None) -> Recipient:
    """Who the outbox copy is addressed to: the first subscriber on the list, else the
    sender (an issue with no list yet is addressed to its editor). `listed` is
    `load_recipients(config)`, read here when not given."""
    readers = (listed or load_recipients(config)).recipients
    if readers:
        return readers[0]
    name, address = parseaddr(config.sender)
    return Recipient(address, name)


def issue_files(rendered: RenderedIssue, config: Config, folder: str, *, state_id: str,
                urls: Mapping[str, str], images: tuple[ImageFile, ...] = (),
                web: str = "", listed: RecipientList | None = None) -> IssueFiles:
    """`urls`: article id -> URL of every article the issue considered; `images`: the
    pictures made for it (digest.enrich.pictures), for its images/ folder."""
    records = tuple(ImageRecord(i.name, i.story, i.slot, i.width, i.height, _source(i.source))
                    for i in images)
    manifest = Manifest.of(rendered, newsletter=config.newsletter.name,
                           slug=config.newsletter.slug, folder=folder, state_id=state_id,
                           urls=urls, images=records)
    template = MessageTemplate.from_config(config, manifest, rendered.html, rendered.text)
    reader = first_recipient(config, listed)
    html, text = template.parts(reader)
    return IssueFiles(manifest, rendered.html, rendered.text, html, text,
                      template.render(reader), tuple((i.name, i.data) for i in images), web)


def _source(url: str) -> str:
    """A web picture's url; a picture on disk by its file name (its path says nothing
    about the issue, and differs from machine to machine)."""
    if is_web(url):
        return url
    return url.rsplit("/", 1)[-1]


def with_variants(files: IssueFiles, variants: tuple[tuple[VariantRecord, IssueFiles | None],
                                                    ...]) -> IssueFiles:
    """The issue's files with its topic editions (digest.curate.variants): each edition
    with a folder of its own as variants/<n>, listed in the issue's manifest (those that
    fell back too), and their pictures in the issue's images/."""
    records: list[VariantRecord] = []
    folders: list[tuple[str, IssueFiles]] = []
    images = dict(files.images)
    for record, own in variants:
        if own is None:
            records.append(record)
            continue
        sub = f"variants/{len(folders) + 1}"
        records.append(replace(record, folder=sub))
        folders.append((sub, replace(own, images=(), web="")))
        for name, data in own.images:
            images.setdefault(name, data)
    manifest = replace(files.manifest, variants=tuple(records))
    return replace(files, manifest=manifest, variants=tuple(folders),
                   images=tuple(images.items()))
