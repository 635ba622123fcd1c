"""The sentences of a phantom report: templates per observation and polarity, each stating its
labels and input-agnostic categories explicitly (`SentenceWriter`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rg4cli.synth.images import (
    VisualFinding,
)
from rg4cli.synth.specs import Sentence
from rg4cli.vocab import NEGATIVE, POSITIVE, UNCERTAIN

# ---- wording ----------------------------------------------------------------------
LEVEL_SIZE = {1: "small", 2: "moderate", 3: "large"}
LEVEL_SEVERITY = {1: "mild", 2: "moderate", 3: "severe"}
LEVEL_ADVERB = {1: "mildly", 2: "moderately", 3: "severely"}
LESION_SIZE = {1: ("8 mm", "9 mm", "1.1 cm"), 2: ("1.6 cm", "1.8 cm", "2.2 cm"), 3: ("3.4 cm", "4.0 cm", "4.5 cm")}
LOBE = {
    ("right", "upper"): "right upper lobe",
    ("right", "mid"): "right middle lobe",
    ("right", "lower"): "right lower lobe",
    ("left", "upper"): "left upper lobe",
    ("left", "mid"): "lingula",
    ("left", "lower"): "left lower lobe",
    ("bilateral", "upper"): "bilateral upper lobes",
    ("bilateral", "mid"): "bilateral mid lungs",
    ("bilateral", "lower"): "bilateral lower lobes",
}
LUNG_REGION = {
    ("right", "upper"): "right upper lung",
    ("right", "mid"): "right mid lung",
    ("right", "lower"): "right lung base",
    ("left", "upper"): "left upper lung",
    ("left", "mid"): "left mid lung",
    ("left", "lower"): "left lung base",
    ("bilateral", "upper"): "upper lungs bilaterally",
    ("bilateral", "mid"): "mid lungs bilaterally",
    ("bilateral", "lower"): "lung bases bilaterally",
}
ORDINAL = {2: "4th", 3: "5th", 4: "6th", 5: "7th", 6: "8th", 7: "9th", 1: "3rd", 0: "3rd", 8: "10th"}


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _where(fd: VisualFinding, rng: np.random.Generator) -> str:
    key = (fd.side or "right", fd.zone or "lower")
    return LOBE[key] if rng.random() < 0.6 else LUNG_REGION[key]


def _short_noun(fd: VisualFinding) -> str:
    side = fd.side or ""
    return {
        "cardiomegaly": "cardiomegaly",
        "mediastinal_widening": "mediastinal widening",
        "effusion": "bilateral pleural effusions" if side == "bilateral" else f"{side} pleural effusion",
        "pneumothorax": f"{side} pneumothorax",
        "consolidation": "consolidation",
        "opacity": "opacity",
        "edema": "pulmonary edema",
        "atelectasis": "atelectasis",
        "lesion": "nodule" if fd.level < 3 else "mass",
        "pleural_thickening": "pleural thickening",
        "fracture": "rib fracture",
    }.get(fd.kind, fd.kind)


class SentenceWriter:
    """Sentences for one study; every template states its labels explicitly."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def choose(self, options: Sequence[str]) -> str:
        return options[int(self.rng.integers(len(options)))]

    # -- per finding: (findings sentence, impression sentence), both with labels --
    def positive(self, fd: VisualFinding) -> tuple[Sentence, Sentence]:
        k, obs, c = fd.kind, fd.observation, self.choose
        val = UNCERTAIN if fd.uncertain else POSITIVE
        lab = {obs: val}
        side = fd.side or ""
        if k == "cardiomegaly":
            adv, sev = LEVEL_ADVERB[fd.level], LEVEL_SEVERITY[fd.level]
            if fd.level == 3 and self.rng.random() < 0.5:
                sev, adv = "marked", "markedly"
            f = c(
                (
                    f"The heart is {adv} enlarged.",
                    f"There is {sev} cardiomegaly.",
                    f"{_cap(sev)} cardiomegaly is present.",
                    f"The heart size is {adv} enlarged.",
                )
            )
            i = c((f"{_cap(sev)} cardiomegaly.", f"{_cap(adv)} enlarged heart."))
        elif k == "mediastinal_widening":
            f = c(
                (
                    "The mediastinum is widened.",
                    "There is widening of the mediastinum.",
                    "Mediastinal widening is noted.",
                )
            )
            i = c(("Widened mediastinum.", "Mediastinal widening."))
        elif k == "effusion":
            size = LEVEL_SIZE[fd.level]
            if fd.uncertain:
                f = c(
                    (
                        f"Possible small {self._sided(side)} pleural effusion.",
                        f"Questionable small {self._sided(side)} pleural effusion.",
                        f"Probable small {self._sided(side)} pleural effusion.",
                        f"A small {self._sided(side)} pleural effusion cannot be excluded.",
                        f"A small {self._sided(side)} pleural effusion may be present.",
                    )
                )
                i = c(
                    (
                        f"Possible small {self._sided(side)} pleural effusion.",
                        f"Small {self._sided(side)} pleural effusion cannot be excluded.",
                    )
                )
            elif side == "bilateral":
                f = c(
                    (
                        f"There are {size} bilateral pleural effusions.",
                        f"{_cap(size)} bilateral pleural effusions are present.",
                        f"{_cap(size)} bilateral pleural effusions are seen.",
                    )
                )
                i = f"{_cap(size)} bilateral pleural effusions."
            else:
                f = c(
                    (
                        f"There is a {size} {side} pleural effusion.",
                        f"A {size} {side} pleural effusion is present.",
                        f"{_cap(size)} {side} pleural effusion is seen.",
                        f"A {size} {side} pleural effusion is noted.",
                    )
                )
                i = c((f"{_cap(size)} {side} pleural effusion.", f"{_cap(size)} {side}-sided pleural effusion."))
        elif k == "pneumothorax":
            size = LEVEL_SIZE[fd.level]
            if fd.uncertain:
                f = c(
                    (
                        f"Possible tiny {side} apical pneumothorax.",
                        f"A small {side} apical pneumothorax cannot be excluded.",
                        f"A small {side} apical pneumothorax may be present.",
                    )
                )
                i = c((f"Possible small {side} pneumothorax.", f"Small {side} apical pneumothorax cannot be excluded."))
            else:
                f = c(
                    (
                        f"There is a {size} {side} pneumothorax.",
                        f"A {size} {side} pneumothorax is present.",
                        f"{_cap(size)} {side} apical pneumothorax is seen.",
                    )
                )
                i = c((f"{_cap(size)} {side} pneumothorax.", f"{_cap(size)} {side}-sided pneumothorax."))
        elif k == "consolidation":
            where = _where(fd, self.rng)
            if fd.uncertain:
                f = c(
                    (
                        f"Possible early consolidation in the {where}.",
                        f"Consolidation in the {where} cannot be excluded.",
                        f"Subtle consolidation may be present in the {where}.",
                    )
                )
                i = c((f"Possible consolidation in the {where}.", f"Consolidation in the {where} cannot be excluded."))
            else:
                f = c(
                    (
                        f"There is consolidation in the {where}.",
                        f"Focal consolidation is seen in the {where}.",
                        f"Dense consolidation is present in the {where}.",
                    )
                )
                i = c(
                    (
                        f"Consolidation in the {where}.",
                        f"{_cap(where)} consolidation."
                        if "lobe" in where or "lingula" in where
                        else f"Consolidation in the {where}.",
                    )
                )
        elif k == "opacity":
            where = _where(fd, self.rng)
            if fd.uncertain:
                f = c(
                    (
                        f"There is a possible faint opacity in the {where}.",
                        f"A subtle opacity in the {where} cannot be excluded.",
                    )
                )
                i = f"Possible faint opacity in the {where}."
            else:
                f = c(
                    (
                        f"There is a patchy opacity in the {where}.",
                        f"A hazy opacity is seen in the {where}.",
                        f"Patchy opacity is present in the {where}.",
                    )
                )
                i = c((f"Patchy opacity in the {where}.", f"Hazy opacity in the {where}."))
        elif k == "edema":
            sev = LEVEL_SEVERITY[fd.level]
            if fd.uncertain:
                f = c(
                    (
                        "Possible mild pulmonary edema.",
                        "Mild pulmonary edema cannot be excluded.",
                        "Findings may reflect mild pulmonary edema.",
                        "Mild pulmonary edema may be present.",
                    )
                )
                i = c(("Possible mild pulmonary edema.", "Mild pulmonary edema cannot be excluded."))
            else:
                f = c(
                    (
                        f"There is {sev} pulmonary edema.",
                        f"{_cap(sev)} pulmonary edema is present.",
                        f"{_cap(sev)} interstitial pulmonary edema is seen.",
                        f"Findings are consistent with {sev} pulmonary edema.",
                    )
                )
                i = f"{_cap(sev)} pulmonary edema."
        elif k == "atelectasis":
            where = {"bilateral": "bibasilar", "right": "right basilar", "left": "left basilar"}[side or "right"]
            base = {"bilateral": "both lung bases", "right": "the right lung base", "left": "the left lung base"}[
                side or "right"
            ]
            deg = {1: "minimal", 2: "mild", 3: "moderate"}[fd.level]
            if fd.uncertain:
                f = c((f"Possible {where} atelectasis.", f"Atelectasis at {base} cannot be excluded."))
                i = f"Possible {where} atelectasis."
            else:
                f = c(
                    (
                        f"There is {deg} {where} atelectasis.",
                        f"Plate-like atelectasis is seen at {base}.",
                        f"{_cap(deg)} {where} atelectasis is present.",
                        f"Linear atelectasis is noted at {base}.",
                    )
                )
                i = c((f"{_cap(deg)} {where} atelectasis.", f"{_cap(where)} atelectasis."))
        elif k == "lesion":
            where = _where(fd, self.rng)
            # The size is the nodule's own (fixed by its position), so it reads the same in
            # findings and impression and from study to study.
            size = LESION_SIZE[fd.level][int(round(abs(fd.dx) * 1000)) % 3]
            noun = "mass" if fd.level == 3 else "nodule"
            if fd.uncertain:
                f = c(
                    (
                        f"A possible nodule projects over the {where}.",
                        f"There is a questionable {size} nodule in the {where}.",
                    )
                )
                i = f"Possible nodule in the {where}."
            else:
                f = c(
                    (
                        f"There is a {size} {noun} in the {where}.",
                        f"A {size} {noun} is seen in the {where}.",
                        f"A {size} {noun} projects over the {where}.",
                    )
                )
                i = c((f"{_cap(size)} {noun} in the {where}.", f"{_cap(noun)} in the {where}, measuring {size}."))
        elif k == "pleural_thickening":
            f = c((f"There is {side} apical pleural thickening.", f"{_cap(side)} apical pleural thickening is noted."))
            i = f"{_cap(side)} apical pleural thickening."
        elif k == "fracture":
            rib = ORDINAL[fd.rib]
            if fd.uncertain:
                f = c(
                    (
                        f"Possible nondisplaced fracture of the {side} {rib} rib.",
                        f"A {side} {rib} rib fracture cannot be excluded.",
                    )
                )
                i = f"Possible {side} {rib} rib fracture."
            else:
                f = c(
                    (
                        f"There is a fracture of the {side} {rib} posterior rib.",
                        f"A {side} {rib} rib fracture is seen.",
                        f"A mildly displaced fracture of the {side} {rib} rib is present.",
                    )
                )
                i = c((f"{_cap(side)} {rib} rib fracture.", f"Fracture of the {side} {rib} rib."))
        elif k == "ett":
            cm = f"{4.5 - fd.dy * 40:.1f}".rstrip("0").rstrip(".")
            f = c(
                (
                    f"An endotracheal tube is in place, terminating {cm} cm above the carina.",
                    f"The endotracheal tube tip is {cm} cm above the carina.",
                    "An endotracheal tube terminates in the mid trachea.",
                )
            )
            i = c(("Endotracheal tube in standard position.", "Endotracheal tube in appropriate position."))
        elif k == "ng_tube":
            f = c(
                (
                    "A nasogastric tube courses below the diaphragm into the stomach.",
                    "An enteric tube is seen with its tip in the stomach.",
                    "A nasogastric tube terminates in the stomach.",
                )
            )
            i = c(("Nasogastric tube in the stomach.", "Enteric tube in appropriate position."))
        elif k == "central_line":
            name = "right internal jugular" if side != "left" else "left subclavian"
            f = c(
                (
                    f"A {name} central venous catheter terminates in the SVC.",
                    f"A {name} central line is in place with its tip in the mid SVC.",
                )
            )
            i = c((f"{_cap(name)} central line tip in the SVC.", f"{_cap(name)} catheter in appropriate position."))
        elif k == "pacemaker":
            f = c(
                (
                    "A left-sided pacemaker is present with leads in the right atrium and right ventricle.",
                    "Left chest wall pacemaker with leads terminating in the right ventricle.",
                )
            )
            i = "Pacemaker leads in standard position."
        elif k == "chest_tube":
            f = c((f"A {side} chest tube is in place.", f"A {side}-sided chest tube terminates near the apex."))
            i = f"{_cap(side)} chest tube in place."
        else:  # pragma: no cover - every kind has its templates
            raise ValueError(k)
        return Sentence(f, dict(lab)), Sentence(i, dict(lab))

    def _sided(self, side: str) -> str:
        return "bilateral" if side == "bilateral" else side

    def pneumonia(self, fd: VisualFinding) -> Sentence | None:
        p = fd.pneumonia
        if p == "positive":
            where = LOBE[(fd.side or "right", fd.zone or "lower")]
            return Sentence(
                self.choose((f"Findings are consistent with {where} pneumonia.", f"{_cap(where)} pneumonia.")),
                {"Pneumonia": POSITIVE},
            )
        if p == "uncertain":
            return Sentence(
                self.choose(
                    (
                        "This is concerning for pneumonia.",
                        "Pneumonia cannot be excluded.",
                        "This may represent pneumonia.",
                        "Early pneumonia is possible.",
                    )
                ),
                {"Pneumonia": UNCERTAIN},
            )
        return None

    # -- negatives --
    NEG_NOUN = {
        "Pleural Effusion": "pleural effusion",
        "Pneumothorax": "pneumothorax",
        "Consolidation": "focal consolidation",
        "Edema": "pulmonary edema",
    }

    def negatives(self, absent: list[str]) -> list[Sentence]:
        """Negative sentences for some absent observations (a list sentence for the common trio)."""
        c, rng = self.choose, self.rng
        out: list[Sentence] = []
        common = [o for o in ("Consolidation", "Pleural Effusion", "Pneumothorax", "Edema") if o in absent]
        mention = [
            o
            for o in common
            if rng.random() < {"Consolidation": 0.75, "Pleural Effusion": 0.85, "Pneumothorax": 0.8, "Edema": 0.35}[o]
        ]
        rng.shuffle(mention)
        if len(mention) >= 2 and rng.random() < 0.7:
            nouns = [self.NEG_NOUN[o] for o in mention]
            if len(nouns) == 2:
                lst = f"{nouns[0]} or {nouns[1]}"
            else:
                lst = ", ".join(nouns[:-1]) + c((", or ", " or ")) + nouns[-1]
            text = c((f"No {lst}.", f"There is no {lst}.", f"No {lst} is seen.", f"No evidence of {lst}."))
            out.append(Sentence(text, {o: NEGATIVE for o in mention}))
        else:
            for o in mention:
                out.append(Sentence(c(self.NEG_SINGLE[o]), {o: NEGATIVE}))
        # "No focal opacity" / "no pneumonia" only when nothing opacifies the lungs.
        clear = all(o in absent for o in ("Consolidation", "Lung Opacity", "Edema", "Atelectasis", "Lung Lesion"))
        for o, p in (("Lung Opacity", 0.15), ("Lung Lesion", 0.08), ("Atelectasis", 0.04), ("Pneumonia", 0.06)):
            if o in absent and rng.random() < p and (clear or o == "Lung Lesion"):
                out.append(Sentence(c(self.NEG_SINGLE[o]), {o: NEGATIVE}))
        return out

    NEG_SINGLE = {
        "Pleural Effusion": ("No pleural effusion.", "There is no pleural effusion.", "No pleural effusion is seen."),
        "Pneumothorax": (
            "No pneumothorax.",
            "There is no pneumothorax.",
            "No pneumothorax is seen.",
            "No pneumothorax is identified.",
            "There is no evidence of pneumothorax.",
        ),
        "Consolidation": (
            "No focal consolidation.",
            "There is no focal consolidation.",
            "No focal consolidation is seen.",
        ),
        "Edema": ("No pulmonary edema.", "There is no pulmonary edema.", "No evidence of pulmonary edema."),
        "Lung Opacity": ("No focal opacity.", "There is no focal opacity."),
        "Lung Lesion": ("No pulmonary nodules or masses.", "No suspicious pulmonary nodule is seen."),
        "Atelectasis": ("No atelectasis.", "There is no atelectasis."),
        "Pneumonia": ("No evidence of pneumonia.", "There is no evidence of pneumonia."),
        "Cardiomegaly": (
            "Heart size is normal.",
            "The heart is normal in size.",
            "No cardiomegaly.",
            "Heart size is within normal limits.",
            "The heart is not enlarged.",
            "Normal heart size.",
        ),
        "Enlarged Cardiomediastinum": (
            "The mediastinal contours are normal.",
            "Mediastinal contours are within normal limits.",
            "The mediastinum is not widened.",
            "Normal mediastinal contours.",
        ),
        # Denied without the word "fracture": the labeler (as CheXbert) reads "no displaced rib fracture" as
        # uncertain and leaves No Finding blank in a report that discusses fractures.
        "Fracture": (
            "No acute bony abnormality is seen.",
            "No acute bony abnormality is identified.",
            "No acute bony abnormality.",
        ),
    }

    def negative(self, obs: str) -> Sentence:
        return Sentence(self.choose(self.NEG_SINGLE[obs]), {obs: NEGATIVE})

    # -- input-agnostic --
    def comparison(self, fd: VisualFinding, prev: VisualFinding | None) -> Sentence:
        """A prior-comparison sentence about one positive finding, true to the prior study."""
        c = self.choose
        named = self.rng.random() < 0.5
        noun = _short_noun(fd)
        if prev is None:
            txt = (
                c((f"The {noun} is new since the prior study.", f"The {noun} is new compared to the prior radiograph."))
                if named
                else c(("This is new since the prior study.", "This is new compared to the prior exam."))
            )
        elif fd.level > prev.level:
            txt = (
                c(
                    (
                        f"The {noun} has increased compared to the prior study.",
                        f"Compared to the prior study, the {noun} has increased.",
                        f"Compared with the radiograph from ___, the {noun} has slightly increased.",
                    )
                )
                if named
                else c(
                    ("This has increased since the prior radiograph.", "This has worsened compared to the prior study.")
                )
            )
        elif fd.level < prev.level:
            txt = (
                c(
                    (
                        f"The {noun} has decreased compared to the prior study.",
                        f"Compared to the prior study, the {noun} has decreased.",
                    )
                )
                if named
                else c(
                    ("This has decreased since the prior radiograph.", "This has improved compared to the prior study.")
                )
            )
        else:
            txt = (
                c(
                    (
                        f"The {noun} is unchanged compared to the prior study.",
                        f"The {noun} is again seen, unchanged.",
                        f"Compared to the prior exam, the {noun} is stable.",
                    )
                )
                if named
                else c(
                    (
                        "This is unchanged from the prior study.",
                        "This is stable compared to the prior radiograph.",
                        "This is unchanged since ___.",
                    )
                )
            )
        labels = {fd.observation: POSITIVE} if named else {}
        return Sentence(txt, labels, ("pc",))

    def comparison_generic(self, changed: bool, improved: bool) -> Sentence:
        c = self.choose
        if not changed:
            txt = c(
                (
                    "No significant interval change compared to the prior study.",
                    "Compared to the prior radiograph of ___, there is no significant interval change.",
                    "The appearance is unchanged compared to the prior exam.",
                )
            )
        elif improved:
            txt = c(
                (
                    "There has been interval improvement compared to the prior study.",
                    "Compared to the prior exam, there has been interval improvement.",
                )
            )
        else:
            txt = c(
                (
                    "There has been interval change compared to the prior study.",
                    "Compared to the prior radiograph, there has been interval change.",
                )
            )
        return Sentence(txt, {}, ("pc",))

    def procedure(self, proc: str) -> Sentence:
        c = self.choose
        txt = c(
            (
                f"The patient is status post {proc}.",
                f"Status post {proc}.",
                f"The patient is now status post {proc}.",
                f"Patient is status post {proc} on ___.",
            )
        )
        return Sentence(txt, {}, ("pp",))

    def view_statement(self, view: str, lateral: bool) -> Sentence:
        c = self.choose
        if view == "PA" and lateral:
            txt = c(
                (
                    "PA and lateral views of the chest were obtained.",
                    "PA and lateral views of the chest are provided.",
                    "Frontal and lateral views of the chest were obtained.",
                )
            )
        elif view == "PA":
            txt = c(("A single PA view of the chest was obtained.", "Single frontal view of the chest was provided."))
        elif lateral:
            txt = c(
                (
                    "AP and lateral views of the chest were obtained.",
                    "Frontal and lateral views of the chest were obtained.",
                )
            )
        else:
            txt = c(
                (
                    "Single portable AP view of the chest.",
                    "Portable AP view of the chest was obtained.",
                    "A single portable semi-upright AP view of the chest was obtained.",
                )
            )
        return Sentence(txt, {}, ("view",))

    def communication(self) -> Sentence:
        c, rng = self.choose, self.rng
        hh, mm = int(rng.integers(7, 19)), int(rng.integers(0, 60))
        t = f"{hh}:{mm:02d}"
        txt = c(
            (
                f"Findings were discussed with Dr. ___ by telephone at {t} on ___.",
                f"These findings were communicated to Dr. ___ via telephone at {t}.",
                f"The above findings were telephoned to the referring physician, Dr. ___, at {t}.",
                "Dr. ___ was paged with these results at ___ on ___.",
            )
        )
        return Sentence(txt, {}, ("comm",))
