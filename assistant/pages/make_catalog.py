"""Generate the demo catalog: merchants, landing pages, products and the SVG images they show (seeded).

Reproduce the shipped catalog exactly with:

    python -m assistant.pages.make_catalog --seed 0 --out assistant/pages/catalog

Every merchant, brand and domain is made up (domains end in `.example`). The landing-page metrics are set per
merchant so that, with the default scoring settings, some merchants score above the threshold, some below, and
one (Vireo Store) has an excellent page without a product filter.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

CATEGORIES = ("laptops", "running-shoes", "coffee-gear", "cameras", "furniture", "headphones")


@dataclass(frozen=True)
class MerchantPlan:
    """One merchant to generate: who it is, what it sells, how good its landing pages are."""

    id: str
    name: str
    domain: str
    colour: str
    categories: tuple[str, ...]
    brands: tuple[str, ...]
    per_category: int
    pages: tuple[float | None, float | None, float | None, float | None, float | None, bool | None, float | None]
    # conversion_rate, bounce_rate, ctr, design_quality, content_quality, has_product_filter, load_time_s


BRAND_COLOURS = {
    "Vireo": "#2f7d5b", "Kestrel": "#b5482f", "Lumina": "#4464ad", "Quarto": "#6b6b6b", "Norvik": "#1f5f8b",
    "Stridewell": "#e0622a", "Fellrunner": "#4e7d2a", "Tempo Labs": "#7a3fa0", "Aeroglide": "#1c8fb3",
    "Brewcraft": "#7b4a2c", "Kettlebird": "#c2912e", "Crema & Co": "#a0522d",
    "Optik": "#2b2b2b", "Halide": "#8c1c3a", "Fennec": "#d08b2c",
    "Oakhaus": "#8a6a3f", "Linden & Row": "#51705c", "Studio Forma": "#3d4a63",
    "Sonara": "#283e7a", "Quietwave": "#4a8f8a",
}

MERCHANTS = (
    MerchantPlan("northpeak", "NorthPeak Computers", "northpeak.example", "#1f5f8b", ("laptops",), ("Vireo", "Kestrel", "Norvik", "Lumina"),
                 44, (0.009, 0.74, 0.014, 0.30, 0.35, True, 4.8)),
    MerchantPlan("pixelforge", "Pixelforge", "pixelforge.example", "#6d3fc0", ("laptops", "cameras"), ("Kestrel", "Lumina", "Quarto", "Optik", "Fennec"),
                 22, (0.048, 0.29, 0.066, 0.90, 0.88, True, 1.1)),
    MerchantPlan("vireo", "Vireo Store", "vireo.example", "#2f7d5b", ("laptops",), ("Vireo",),
                 30, (0.051, 0.27, 0.071, 0.92, 0.93, False, 0.9)),
    MerchantPlan("circuitrow", "Circuit Row", "circuitrow.example", "#b33c3c", ("laptops", "headphones"), ("Quarto", "Norvik", "Sonara", "Quietwave"),
                 18, (0.030, 0.45, 0.040, 0.60, 0.62, True, 2.2)),
    MerchantPlan("stridewell", "Stridewell Running", "stridewell.example", "#e0622a", ("running-shoes",), ("Stridewell", "Aeroglide"),
                 34, (0.044, 0.31, 0.058, 0.86, 0.84, True, 1.3)),
    MerchantPlan("trailhead", "Trailhead Outfitters", "trailhead.example", "#4e7d2a", ("running-shoes",), ("Fellrunner", "Tempo Labs", "Stridewell"),
                 34, (0.011, 0.69, 0.017, 0.38, 0.41, True, 4.1)),
    MerchantPlan("beanburr", "Bean & Burr", "beanburr.example", "#7b4a2c", ("coffee-gear",), ("Brewcraft", "Kettlebird", "Crema & Co"),
                 32, (0.013, 0.66, 0.021, 0.42, 0.36, True, 3.6)),
    MerchantPlan("cremaco", "Crema & Co", "cremaco.example", "#a0522d", ("coffee-gear",), ("Crema & Co", "Brewcraft"),
                 30, (0.046, 0.33, 0.062, 0.83, 0.87, True, 1.2)),
    MerchantPlan("shutterbay", "Shutter Bay", "shutterbay.example", "#8c1c3a", ("cameras",), ("Halide", "Optik", "Fennec"),
                 32, (0.012, 0.71, 0.016, 0.33, 0.45, True, 3.9)),
    MerchantPlan("lenscraft", "Lenscraft", "lenscraft.example", "#2b2b2b", ("cameras",), ("Optik", "Halide"),
                 30, (0.043, 0.34, 0.059, 0.88, 0.85, True, 1.4)),
    MerchantPlan("oakhaus", "Oakhaus Home", "oakhaus.example", "#8a6a3f", ("furniture",), ("Oakhaus", "Studio Forma"),
                 32, (0.010, 0.72, 0.015, 0.36, 0.31, True, 4.4)),
    MerchantPlan("lindenrow", "Linden & Row", "lindenrow.example", "#51705c", ("furniture",), ("Linden & Row", "Studio Forma"),
                 30, (0.045, 0.30, 0.064, 0.87, 0.90, True, 1.0)),
    MerchantPlan("soundcove", "Sound Cove", "soundcove.example", "#283e7a", ("headphones",), ("Sonara", "Quietwave"),
                 30, (0.016, 0.62, 0.022, 0.45, 0.40, True, 3.1)),
    MerchantPlan("metromart", "Metro Mart", "metromart.example", "#d4a017", ("laptops", "coffee-gear", "headphones", "furniture"),
                 ("Lumina", "Quarto", "Kettlebird", "Quietwave", "Studio Forma"), 9, (0.025, None, 0.035, None, 0.55, True, None)),
)


def slug(text: str) -> str:
    """URL-safe lower-case words joined by hyphens."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _price(value: float) -> float:
    """A shop-like price: whole tens minus a cent above 100, else .99."""
    return round(max(9.99, round(value / 10) * 10 - 0.01), 2) if value >= 100 else round(int(value) + 0.99, 2)


# -- products per category -------------------------------------------------------------------------------
LAPTOP_LINES = {"Vireo": ("Forge", "Atelier", "Drafta"), "Kestrel": ("Blade", "Swift", "Strix"), "Lumina": ("Air", "Note", "Studio"),
                "Quarto": ("Office", "Flex", "Edge"), "Norvik": ("Titan", "Core", "Vector")}
CPUS = (("Core i5-1335U", 1.0), ("Ryzen 5 7540U", 1.0), ("Core Ultra 7 155H", 1.6), ("Ryzen 7 8845HS", 1.7), ("Core Ultra 9 185H", 2.2),
        ("Ryzen 9 8945HS", 2.3), ("Core i9-14900HX", 2.6))
GPUS = (("integrated Iris Xe", 0, 0), ("Radeon 780M", 0, 1), ("RTX 4050 6GB", 6, 2), ("RTX 4060 8GB", 8, 3), ("RTX 4070 8GB", 8, 4),
        ("RTX 4080 12GB", 12, 5), ("RTX 3500 Ada 12GB", 12, 5))


def laptop(rng: random.Random, brand: str) -> dict[str, Any]:
    """A laptop with CPU, GPU, RAM, storage, screen and weight; workstations are tagged for 3D modeling and architecture."""
    line = rng.choice(LAPTOP_LINES[brand])
    tier = rng.choices(range(len(GPUS)), weights=(4, 2, 3, 3, 3, 2, 1))[0]
    gpu, vram, power = GPUS[tier]
    cpu, cpu_power = CPUS[min(len(CPUS) - 1, max(0, tier + rng.choice((-1, 0, 1))))]
    ram = rng.choice((8, 16) if power == 0 else (16, 32) if power < 4 else (32, 64))
    storage = rng.choice((256, 512) if power == 0 else (512, 1024) if power < 4 else (1024, 2048))
    screen = rng.choice((13.3, 14.0) if power == 0 else (14.0, 15.6, 16.0) if power < 5 else (16.0, 17.3))
    weight = round(1.1 + (screen - 13) * 0.25 + power * 0.12 + rng.uniform(-0.1, 0.15), 2)
    display = rng.choice(("1920x1200 IPS", "2560x1600 IPS", "2880x1800 OLED", "3200x2000 mini-LED") if power else ("1920x1080 IPS", "1920x1200 IPS"))
    uses = ["office", "students"] if power == 0 else ["gaming", "video editing"] if power < 4 else []
    if power >= 3 and ram >= 32:
        uses = ["3D modeling", "architecture", "CAD", "rendering"] + (["gaming"] if "RTX 40" in gpu else [])
    elif power >= 2:
        uses += ["photo editing"]
    price = 420 + cpu_power * 180 + power * 260 + ram * 9 + storage * 0.12 + (screen - 13) * 40 + rng.uniform(-60, 90)
    short_gpu = gpu.replace(" 6GB", "").replace(" 8GB", "").replace(" 12GB", "")
    title = f"{brand} {line} {screen:g} ({cpu.split('-')[0]}, {short_gpu}, {ram}GB)"
    purpose = {"3D modeling": "Built for 3D modeling, CAD and architectural visualisation", "gaming": "A fast machine for games and creative apps",
               "office": "A light everyday laptop for work and study"}.get(uses[0], "A versatile laptop for creative work")
    description = f"{purpose}: {cpu} processor, {gpu} graphics, {ram} GB RAM, {storage} GB SSD and a {screen:g}-inch {display} display."
    attributes = {"cpu": cpu, "gpu": gpu, "vram_gb": vram, "ram_gb": ram, "storage_gb": storage, "screen_in": screen, "display": display,
                  "weight_kg": weight, "battery_wh": rng.choice((54, 60, 70, 80, 90, 99)), "uses": uses}
    return {"title": title, "price": _price(price), "description": description, "attributes": attributes, "shape": "laptop"}


SHOE_LINES = {"Stridewell": ("Tempo", "Cruise", "Daily"), "Aeroglide": ("Float", "Jet", "Breeze"), "Fellrunner": ("Ridge", "Scree", "Moor"),
              "Tempo Labs": ("Pace", "Sprint", "Glide")}


def running_shoe(rng: random.Random, brand: str) -> dict[str, Any]:
    """A running shoe with terrain, drop, cushioning, weight and size range."""
    line = rng.choice(SHOE_LINES[brand])
    terrain = "trail" if brand == "Fellrunner" or (brand != "Aeroglide" and rng.random() < 0.3) else rng.choice(("road", "road", "track"))
    drop = rng.choice((0, 4, 6, 8, 10, 12))
    cushioning = rng.choice(("low", "medium", "max"))
    version = rng.randint(2, 9)
    fit = rng.choice(("men", "women", "unisex"))
    size_min, size_max = (36, 43) if fit == "women" else (39, 48) if fit == "men" else (36, 47)
    waterproof = terrain == "trail" and rng.random() < 0.4
    colourway = rng.choice(("black/white", "volt/grey", "navy/orange", "sand/olive", "red/black", "sky/white"))
    weight = rng.randint(190, 320) + (20 if terrain == "trail" else 0)
    price = 70 + {"low": 10, "medium": 30, "max": 55}[cushioning] + (25 if waterproof else 0) + rng.uniform(-10, 60)
    title = f"{brand} {line} {version}{' Trail' if terrain == 'trail' and 'Trail' not in line else ''}{' GTX' if waterproof else ''} ({fit})"
    description = f"A {cushioning}-cushion {terrain} shoe with a {drop} mm drop, {weight} g, EU sizes {size_min}-{size_max}, colourway {colourway}."
    attributes = {"terrain": terrain, "drop_mm": drop, "cushioning": cushioning, "weight_g": weight, "size_min_eu": size_min,
                  "size_max_eu": size_max, "fit": fit, "waterproof": waterproof, "colourway": colourway}
    return {"title": title, "price": _price(price), "description": description, "attributes": attributes, "shape": "shoe-trail" if terrain == "trail" else "shoe-road"}


COFFEE_KINDS = (("espresso machine", 280, 1400), ("burr grinder", 90, 520), ("pour-over kettle", 35, 160), ("drip brewer", 60, 280),
                ("french press", 25, 80), ("coffee scale", 20, 90))


def coffee_gear(rng: random.Random, brand: str) -> dict[str, Any]:
    """Coffee gear: espresso machines, grinders, kettles, brewers, presses and scales."""
    kind, low, high = rng.choice(COFFEE_KINDS)
    model = rng.choice(("Classic", "Pro", "Mini", "Barista", "One", "Duo", "Studio")) + f" {rng.randint(1, 9)}"
    material = rng.choice(("stainless steel", "matte black steel", "glass and steel", "copper", "white enamel"))
    attributes: dict[str, Any] = {"kind": kind, "material": material}
    if kind == "espresso machine":
        attributes |= {"pressure_bar": rng.choice((9, 15, 19)), "boiler": rng.choice(("single", "dual", "thermoblock")), "wattage": rng.choice((1200, 1450, 1700))}
    elif kind == "burr grinder":
        attributes |= {"burr_type": rng.choice(("conical", "flat")), "burr_mm": rng.choice((38, 40, 54, 64)), "grind_settings": rng.choice((30, 40, 60, 100))}
    elif kind in ("pour-over kettle", "drip brewer", "french press"):
        attributes |= {"capacity_ml": rng.choice((600, 800, 1000, 1200, 1500))}
    else:
        attributes |= {"max_g": rng.choice((2000, 3000)), "timer": True}
    price = rng.uniform(low, high)
    title = f"{brand} {model} {kind.title()}"
    description = f"A {material} {kind}" + "".join(f", {k.replace('_', ' ')} {v}" for k, v in attributes.items() if k not in ("kind", "material")) + "."
    shape = {"espresso machine": "coffee-espresso", "burr grinder": "coffee-grinder", "pour-over kettle": "coffee-kettle"}.get(kind, "coffee-cup")
    return {"title": title, "price": _price(price), "description": description, "attributes": attributes, "shape": shape}


CAMERA_LINES = {"Optik": ("M", "Z", "X"), "Halide": ("Aria", "Nova", "Pro"), "Fennec": ("Go", "Trek", "Clip")}


def camera(rng: random.Random, brand: str) -> dict[str, Any]:
    """A camera with type, sensor, resolution, video mode, stabilisation and weight."""
    kind = "action" if brand == "Fennec" and rng.random() < 0.6 else rng.choice(("mirrorless", "mirrorless", "compact"))
    sensor = {"action": "1/1.9-inch", "compact": rng.choice(("1-inch", "APS-C")), "mirrorless": rng.choice(("full frame", "APS-C", "Micro Four Thirds"))}[kind]
    megapixels = rng.choice({"full frame": (24, 33, 45, 61), "APS-C": (24, 26, 40), "Micro Four Thirds": (20, 25), "1-inch": (20,), "1/1.9-inch": (12, 27)}[sensor])
    video = rng.choice(("4K30", "4K60", "6K30", "8K30") if kind == "mirrorless" else ("4K30", "4K60"))
    ibis = kind != "compact" and rng.random() < 0.7
    weight = {"action": rng.randint(120, 160), "compact": rng.randint(250, 400), "mirrorless": rng.randint(390, 740)}[kind]
    price = {"action": 250, "compact": 550, "mirrorless": 700}[kind] + (900 if sensor == "full frame" else 0) + megapixels * (4 if kind == "action" else 12) + rng.uniform(-50, 300) * (0.3 if kind == "action" else 1)
    title = f"{brand} {rng.choice(CAMERA_LINES[brand])}{rng.randint(2, 9)}{rng.choice(('', '0', ' II', ' Mark III'))} {kind.title()} Camera"
    description = f"A {kind} camera with a {megapixels} MP {sensor} sensor, {video} video{', in-body stabilisation' if ibis else ''}, {weight} g."
    attributes = {"kind": kind, "sensor": sensor, "megapixels": megapixels, "video": video, "ibis": ibis, "weight_g": weight}
    return {"title": title, "price": _price(price), "description": description, "attributes": attributes, "shape": f"camera-{kind}"}


FURNITURE_KINDS = (("desk chair", 120, 900, "chair"), ("standing desk", 280, 1200, "desk"), ("drafting table", 200, 950, "desk"),
                   ("bookshelf", 80, 600, "shelf"), ("sofa", 600, 2400, "sofa"), ("dining table", 300, 1800, "desk"))


def furniture(rng: random.Random, brand: str) -> dict[str, Any]:
    """Furniture with kind, material, colour and dimensions."""
    kind, low, high, shape = rng.choice(FURNITURE_KINDS)
    material = rng.choice(("solid oak", "walnut veneer", "powder-coated steel", "birch plywood", "recycled fabric", "ash"))
    colour = rng.choice(("natural", "charcoal", "white", "sage", "sand"))
    width = rng.choice((60, 80, 120, 140, 160, 200)) if kind != "desk chair" else rng.choice((60, 66, 70))
    model = rng.choice(("Halden", "Soren", "Maren", "Tove", "Ebbe", "Lund", "Aalto", "Viggo"))
    attributes = {"kind": kind, "material": material, "colour": colour, "width_cm": width, "depth_cm": rng.choice((40, 60, 75, 90)),
                  "height_cm": rng.choice((75, 90, 110, 180)), "assembly_required": rng.random() < 0.6}
    if kind == "drafting table":
        attributes["tilt_degrees"] = rng.choice((45, 60, 75))
    title = f"{brand} {model} {kind.title()} ({colour} {material})"
    description = f"A {colour} {material} {kind}, {width} cm wide{'; tilts to ' + str(attributes['tilt_degrees']) + ' degrees for drawing' if kind == 'drafting table' else ''}."
    return {"title": title, "price": _price(rng.uniform(low, high)), "description": description, "attributes": attributes, "shape": f"furniture-{shape}"}


def headphones(rng: random.Random, brand: str) -> dict[str, Any]:
    """Headphones with form factor, noise cancelling, battery, driver and weight."""
    kind = rng.choice(("over-ear", "over-ear", "in-ear", "on-ear"))
    anc = rng.random() < 0.6
    wireless = kind == "in-ear" or rng.random() < 0.8
    battery = rng.choice((20, 30, 40, 60)) if wireless and kind != "in-ear" else rng.choice((6, 8, 10)) if wireless else 0
    driver = rng.choice((40, 45, 50)) if kind != "in-ear" else rng.choice((6, 10, 11))
    price = {"over-ear": 120, "on-ear": 70, "in-ear": 60}[kind] + (90 if anc else 0) + rng.uniform(-20, 160)
    model = rng.choice(("Aura", "Pulse", "Hush", "Drift", "Echo", "Mono")) + f" {rng.randint(1, 7)}"
    title = f"{brand} {model} {'ANC ' if anc else ''}{'Wireless ' if wireless else ''}{kind.title()} Headphones"
    description = (f"{kind} headphones, {'active noise cancelling, ' if anc else ''}{'wireless with ' + str(battery) + ' h battery' if wireless else 'wired'}, "
                   f"{driver} mm drivers.")
    attributes = {"kind": kind, "anc": anc, "wireless": wireless, "battery_h": battery, "driver_mm": driver, "weight_g": rng.randint(5, 320)}
    return {"title": title, "price": _price(price), "description": description, "attributes": attributes, "shape": f"headphones-{kind}"}


GENERATORS: dict[str, Callable[[random.Random, str], dict[str, Any]]] = {
    "laptops": laptop, "running-shoes": running_shoe, "coffee-gear": coffee_gear, "cameras": camera, "furniture": furniture, "headphones": headphones,
}
BRAND_CATEGORIES = {"laptops": set(LAPTOP_LINES), "running-shoes": set(SHOE_LINES), "cameras": set(CAMERA_LINES),
                    "coffee-gear": {"Brewcraft", "Kettlebird", "Crema & Co"}, "furniture": {"Oakhaus", "Linden & Row", "Studio Forma"},
                    "headphones": {"Sonara", "Quietwave"}}


# -- drawings -----------------------------------------------------------------------------------------------
def _shade(colour: str, factor: float) -> str:
    """The colour lightened (factor > 1) or darkened (< 1)."""
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    mix = (lambda c: min(255, int(c + (255 - c) * (factor - 1)))) if factor > 1 else (lambda c: int(c * factor))
    return f"#{mix(r):02x}{mix(g):02x}{mix(b):02x}"


SHAPES: dict[str, str] = {
    "laptop": '<rect x="38" y="18" width="84" height="56" rx="4" fill="{dark}"/><rect x="43" y="23" width="74" height="46" rx="2" fill="{light}"/>'
              '<path d="M26 78h108l-8 12H34z" fill="{main}"/><rect x="70" y="80" width="20" height="3" rx="1.5" fill="{dark}"/>',
    "shoe-road": '<path d="M22 82c2-14 10-24 22-30l20-6c6 10 18 14 30 14l22 6c10 3 18 8 20 16H22z" fill="{main}"/>'
                 '<path d="M20 82h118v8H20z" fill="{dark}"/><path d="M60 56l8 10M70 52l8 11M80 50l7 12" stroke="{light}" stroke-width="3"/>',
    "shoe-trail": '<path d="M22 80c2-14 10-24 22-30l20-6c6 10 18 14 30 14l22 6c10 3 18 8 20 16H22z" fill="{main}"/>'
                  '<path d="M20 80h118v6l-8 6-8-6-8 6-8-6-8 6-8-6-8 6-8-6-8 6-8-6-8 6-8-6-8 6-8-6-8 6z" fill="{dark}"/>'
                  '<path d="M60 54l8 10M70 50l8 11M80 48l7 12" stroke="{light}" stroke-width="3"/>',
    "coffee-espresso": '<rect x="44" y="16" width="72" height="74" rx="6" fill="{main}"/><rect x="52" y="24" width="56" height="14" rx="3" fill="{dark}"/>'
                       '<rect x="66" y="42" width="28" height="8" rx="2" fill="{dark}"/><rect x="68" y="62" width="24" height="20" rx="3" fill="{light}"/>'
                       '<rect x="40" y="90" width="80" height="6" rx="2" fill="{dark}"/>',
    "coffee-grinder": '<path d="M60 14h40l-6 26H66z" fill="{light}"/><rect x="58" y="40" width="44" height="50" rx="5" fill="{main}"/>'
                      '<circle cx="80" cy="60" r="8" fill="{dark}"/><rect x="52" y="90" width="56" height="6" rx="2" fill="{dark}"/>',
    "coffee-kettle": '<path d="M54 44h48l6 44H48z" fill="{main}"/><path d="M102 52c14 0 16 20 4 26" stroke="{dark}" stroke-width="5" fill="none"/>'
                     '<path d="M54 56C40 50 30 36 22 30" stroke="{dark}" stroke-width="4" fill="none"/><rect x="66" y="36" width="24" height="8" rx="3" fill="{dark}"/>',
    "coffee-cup": '<path d="M50 40h56l-6 48H56z" fill="{main}"/><path d="M106 50c12 0 12 18 0 20" stroke="{dark}" stroke-width="5" fill="none"/>'
                  '<path d="M66 20c-4 6 4 10 0 16M80 18c-4 6 4 10 0 16" stroke="{light}" stroke-width="3" fill="none"/><rect x="44" y="88" width="68" height="5" rx="2" fill="{dark}"/>',
    "camera-mirrorless": '<rect x="30" y="34" width="100" height="54" rx="8" fill="{main}"/><rect x="46" y="26" width="30" height="10" rx="3" fill="{dark}"/>'
                         '<circle cx="88" cy="61" r="21" fill="{dark}"/><circle cx="88" cy="61" r="13" fill="{light}"/><circle cx="118" cy="44" r="4" fill="{light}"/>',
    "camera-compact": '<rect x="36" y="38" width="88" height="48" rx="10" fill="{main}"/><circle cx="80" cy="62" r="16" fill="{dark}"/>'
                      '<circle cx="80" cy="62" r="9" fill="{light}"/><rect x="100" y="30" width="16" height="8" rx="2" fill="{dark}"/>',
    "camera-action": '<rect x="52" y="30" width="56" height="60" rx="8" fill="{main}"/><circle cx="80" cy="56" r="14" fill="{dark}"/>'
                     '<circle cx="80" cy="56" r="7" fill="{light}"/><rect x="60" y="76" width="40" height="8" rx="2" fill="{dark}"/>',
    "furniture-chair": '<rect x="56" y="14" width="48" height="40" rx="8" fill="{main}"/><rect x="50" y="56" width="60" height="10" rx="4" fill="{dark}"/>'
                       '<rect x="77" y="66" width="6" height="16" fill="{dark}"/><path d="M56 90l24-8 24 8" stroke="{dark}" stroke-width="5" fill="none"/>',
    "furniture-desk": '<rect x="22" y="40" width="116" height="10" rx="2" fill="{main}"/><rect x="30" y="50" width="8" height="42" fill="{dark}"/>'
                      '<rect x="122" y="50" width="8" height="42" fill="{dark}"/><rect x="92" y="52" width="28" height="18" rx="2" fill="{light}"/>',
    "furniture-shelf": '<rect x="44" y="12" width="72" height="84" rx="2" fill="{dark}"/><rect x="50" y="18" width="60" height="22" fill="{light}"/>'
                       '<rect x="50" y="44" width="60" height="22" fill="{light}"/><rect x="50" y="70" width="60" height="20" fill="{light}"/>'
                       '<rect x="54" y="24" width="6" height="16" fill="{main}"/><rect x="62" y="26" width="5" height="14" fill="{main}"/>'
                       '<rect x="80" y="50" width="7" height="16" fill="{main}"/>',
    "furniture-sofa": '<rect x="30" y="36" width="100" height="30" rx="8" fill="{main}"/><rect x="22" y="50" width="18" height="34" rx="6" fill="{dark}"/>'
                      '<rect x="120" y="50" width="18" height="34" rx="6" fill="{dark}"/><rect x="38" y="62" width="84" height="20" rx="4" fill="{light}"/>'
                      '<rect x="30" y="84" width="6" height="8" fill="{dark}"/><rect x="124" y="84" width="6" height="8" fill="{dark}"/>',
    "headphones-over-ear": '<path d="M44 70V56a36 36 0 0 1 72 0v14" stroke="{dark}" stroke-width="7" fill="none"/>'
                           '<rect x="34" y="60" width="22" height="32" rx="9" fill="{main}"/><rect x="104" y="60" width="22" height="32" rx="9" fill="{main}"/>',
    "headphones-on-ear": '<path d="M48 66V56a32 32 0 0 1 64 0v10" stroke="{dark}" stroke-width="6" fill="none"/>'
                         '<circle cx="48" cy="74" r="14" fill="{main}"/><circle cx="112" cy="74" r="14" fill="{main}"/>',
    "headphones-in-ear": '<circle cx="62" cy="50" r="14" fill="{main}"/><rect x="58" y="60" width="8" height="28" rx="4" fill="{dark}"/>'
                         '<circle cx="98" cy="50" r="14" fill="{main}"/><rect x="94" y="60" width="8" height="28" rx="4" fill="{dark}"/>',
}


def draw(shape: str, colour: str) -> str:
    """An SVG drawing of a product shape in a brand colour."""
    body = SHAPES[shape].format(main=colour, dark=_shade(colour, 0.6), light=_shade(colour, 1.7))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 160 110" width="160" height="110">'
            f'<rect width="160" height="110" rx="10" fill="{_shade(colour, 1.88)}"/>{body}</svg>\n')


def draw_logo(name: str, colour: str) -> str:
    """A round logo with the merchant's initials."""
    initials = "".join(w[0] for w in re.findall(r"[A-Za-z]+", name) if w.lower() not in ("and", "co"))[:2].upper()
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" width="64" height="64"><circle cx="32" cy="32" r="30" fill="{colour}"/>'
            f'<text x="32" y="41" font-family="Helvetica, Arial, sans-serif" font-size="24" font-weight="700" fill="#ffffff" '
            f'text-anchor="middle">{initials}</text></svg>\n')


# -- the catalog --------------------------------------------------------------------------------------------
def landing_pages(plan: MerchantPlan, rng: random.Random) -> list[dict[str, Any]]:
    """One landing page per category the merchant sells, with its metrics (None stays missing)."""
    cr, br, ctr, dq, cq, has_filter, load = plan.pages
    pages = []
    for category in plan.categories:
        jitter = lambda v, spread: None if v is None else round(min(1.0, max(0.0, v * (1 + rng.uniform(-spread, spread)))), 3)
        page = {"url": f"https://{plan.domain}/{category}", "category": category, "conversion_rate": jitter(cr, 0.08), "bounce_rate": jitter(br, 0.04),
                "ctr": jitter(ctr, 0.08), "design_quality": jitter(dq, 0.04), "content_quality": jitter(cq, 0.04), "has_product_filter": has_filter,
                "performance_metrics": {} if load is None else {"load_time_s": round(load * (1 + rng.uniform(-0.1, 0.1)), 2)}}
        pages.append(page)
    return pages


def build(seed: int) -> tuple[dict[str, Any], dict[str, str]]:
    """The catalog document and the SVG files it refers to (file name -> SVG text)."""
    rng = random.Random(seed)
    svgs: dict[str, str] = {}
    merchants, products = [], []
    for plan in MERCHANTS:
        logo = f"images/logo-{plan.id}.svg"
        svgs[logo] = draw_logo(plan.name, plan.colour)
        merchants.append({"id": plan.id, "brand_name": plan.name, "website_url": f"https://{plan.domain}/", "logo": logo, "colour": plan.colour,
                          "landing_pages": landing_pages(plan, rng)})
        number, seen = 0, set()
        for category in plan.categories:
            brands = [b for b in plan.brands if b in BRAND_CATEGORIES[category]]
            made = 0
            while made < plan.per_category:
                brand = brands[made % len(brands)]
                item = GENERATORS[category](rng, brand)
                if item["title"] in seen:  # titles are unique within a merchant
                    continue
                seen.add(item["title"])
                number += 1
                made += 1
                product_id = f"{plan.id}-{number:03d}"
                image = f"images/{item['shape']}-{slug(brand)}.svg"
                svgs.setdefault(image, draw(item["shape"], BRAND_COLOURS[brand]))
                rating = round(min(5.0, max(2.8, rng.gauss(4.3, 0.35))), 1)
                products.append({
                    "id": product_id, "merchant_id": plan.id, "category": category, "brand": brand, "title": item["title"], "price": item["price"],
                    "currency": "USD", "rating": rating, "review_count": int(rng.paretovariate(1.3) * 12),
                    "url": f"https://{plan.domain}/p/{slug(item['title'])}-{product_id}",
                    "buy_url": f"https://{plan.domain}/cart/add?sku={product_id}",
                    "image": image, "description": item["description"], "attributes": item["attributes"]})
    catalog = {"schema": 1, "name": "Demo catalog (made-up merchants, seed %d)" % seed, "merchants": merchants, "products": products}
    return catalog, svgs


def write(catalog: dict[str, Any], svgs: dict[str, str], out: Path) -> None:
    """Write catalog.json (one product per line, so errors name a line) and the images."""
    images = out / "images"
    if images.exists():
        shutil.rmtree(images)
    images.mkdir(parents=True)
    for name, svg in sorted(svgs.items()):
        (out / name).write_text(svg, encoding="utf-8")
    head = {k: v for k, v in catalog.items() if k not in ("merchants", "products")}
    lines = ["{"] + [f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}," for k, v in head.items()]
    for key in ("merchants", "products"):
        rows = [f"    {json.dumps(row, ensure_ascii=False)}" for row in catalog[key]]
        lines += [f'  "{key}": [', ",\n".join(rows), "  ]" + ("," if key == "merchants" else "")]
    (out / "catalog.json").write_text("\n".join(lines + ["}"]) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    """Generate and write the catalog."""
    parser = argparse.ArgumentParser(description="Generate the demo product catalog (seeded, reproducible).")
    parser.add_argument("--seed", type=int, default=0, help="random seed (the shipped catalog uses 0)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "catalog", help="output directory")
    args = parser.parse_args(argv)
    catalog, svgs = build(args.seed)
    write(catalog, svgs, args.out)
    print(f"wrote {len(catalog['merchants'])} merchants, {len(catalog['products'])} products and {len(svgs)} images to {args.out}")


if __name__ == "__main__":
    main()
