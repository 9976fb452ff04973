"""Static tables of the simulated iRacing world: categories, cars, tracks, series, names.

Everything here is immutable reference data; the time-driven part lives in `model`.
Ids and names are plausible rather than exact copies of iRacing's catalogue: what matters to the
harvester is that every id used in one document resolves in the others.
"""

from __future__ import annotations

from dataclasses import dataclass

# License categories: value -> (key used in member licenses, label used in documents).
CATEGORIES: dict[int, tuple[str, str]] = {
    1: ("oval", "Oval"),
    2: ("road", "Road"),
    3: ("dirt_oval", "Dirt Oval"),
    4: ("dirt_road", "Dirt Road"),
    5: ("sports_car", "Sports Car"),
    6: ("formula_car", "Formula Car"),
}
# Categories a race can run in today (road was split into sports car and formula car).
ACTIVE_CATEGORIES: tuple[int, ...] = (1, 3, 4, 5, 6)
# Track category of a license category (a sports car race runs on a road course).
TRACK_CATEGORY: dict[int, int] = {1: 1, 2: 2, 3: 3, 4: 4, 5: 2, 6: 2}

EVENT_TYPES: tuple[tuple[str, int], ...] = (
    ("Practice", 2),
    ("Qualify", 3),
    ("Time Trial", 4),
    ("Race", 5),
)
DIVISIONS: tuple[tuple[str, int], ...] = (
    ("ALL", -1),
    *((f"Division {n + 1}", n) for n in range(10)),
    ("Rookie", 10),
)

LICENSE_GROUPS: tuple[tuple[int, str, str, int, int], ...] = (
    # group id, name, letter, min level, max level
    (1, "Rookie", "R", 1, 4),
    (2, "Class D", "D", 5, 8),
    (3, "Class C", "C", 9, 12),
    (4, "Class B", "B", 13, 16),
    (5, "Class A", "A", 17, 20),
    (6, "Pro", "P", 21, 24),
    (7, "Pro/WC", "WC", 25, 28),
)
LICENSE_COLORS: dict[int, str] = {
    1: "fc0706",
    2: "fc8a27",
    3: "feec04",
    4: "33cc00",
    5: "0153db",
    6: "000000",
    7: "000000",
}


@dataclass(frozen=True, slots=True)
class Car:
    car_id: int
    name: str
    abbrev: str
    dirpath: str
    class_id: int
    class_name: str
    category: int
    make: str
    model: str
    hp: int
    weight: int
    price: float
    types: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Track:
    track_id: int
    name: str
    config: str
    category: int
    length: float  # miles
    corners: int
    lap_seconds: float  # nominal lap time
    location: str
    latitude: float
    longitude: float
    time_zone: str
    dirpath: str


@dataclass(frozen=True, slots=True)
class SeriesTemplate:
    name: str
    category: int
    cars: tuple[int, ...]
    min_license_group: int
    team: bool = False  # team events: cars shared by up to 3 drivers of a team
    supersessions: bool = False  # a super session every day, with standings of its own
    time_trials: bool = False  # a time trial each week, with results and standings
    heats: bool = False  # heat racing: its seasons describe their heats (heat_ses_info)


# fmt: off
CARS: tuple[Car, ...] = (
    Car(67, "Global Mazda MX-5 Cup", "MX5 C", "mx5 mx52016", 74, "Mazda MX-5 Cup", 5,
        "Mazda", "MX-5", 155, 2381, 11.95, ("mx5", "road", "sports car")),
    Car(106, "Dallara F3", "F317", "dallaraf317", 4011, "Dallara F3", 6,
        "Dallara", "F3", 240, 1290, 11.95, ("openwheel", "road", "formula car")),
    Car(132, "BMW M4 GT3", "M4GT3", "bmwm4gt3", 2708, "GT3 Class", 5,
        "BMW", "M4 GT3", 582, 2888, 11.95, ("gt3", "road", "sports car")),
    Car(156, "Mercedes-AMG GT3 2020", "AMGGT3", "mercedesamgevogt3", 2708, "GT3 Class", 5,
        "Mercedes-AMG", "GT3", 550, 2932, 11.95, ("gt3", "road", "sports car")),
    Car(145, "Mercedes-AMG W12 E Performance", "W12", "mercedesw12", 3185, "Mercedes W12", 6,
        "Mercedes-AMG", "W12", 1000, 1649, 14.95, ("openwheel", "road", "formula car")),
    Car(1, "Skip Barber Formula 2000", "SBRS", "rt2000", 1, "Skip Barber", 6,
        "Skip Barber", "Formula 2000", 132, 1250, 11.95, ("openwheel", "road", "skippy")),
    Car(123, "Stock Car Next Gen Camaro", "NGCAM", "stockcars chevycamarozl12022", 2876,
        "Next Gen Cup", 1, "Chevrolet", "Camaro ZL1", 670, 3400, 14.95, ("oval", "stockcar")),
    Car(114, "Dirt Sprint Car - 305", "305SPRT", "sprintcarunwing305", 3460, "305 Sprint Car",
        3, "Generic", "Sprint Car 305", 620, 1400, 11.95, ("dirt", "dirt_oval", "sprint")),
    Car(82, "Pro 2 Lite", "PRO2L", "pro2lite", 3450, "Pro 2 Lite", 4,
        "Generic", "Pro 2 Lite", 600, 2600, 11.95, ("dirt", "dirt_road", "offroad")),
    Car(44, "Kia Optima", "KIAOPT", "kiaoptima", 48, "Kia Optima", 5,
        "Kia", "Optima", 290, 2866, 11.95, ("road", "touring")),
)
# fmt: on
CARS_BY_ID: dict[int, Car] = {car.car_id: car for car in CARS}

# fmt: off
TRACKS: tuple[Track, ...] = (
    Track(341, "Silverstone Circuit", "Grand Prix", 2, 3.66, 18, 117.0,
          "Silverstone, Northamptonshire, England", 52.0733, -1.0147, "Europe/London",
          "silverstone\\gp"),
    Track(239, "Autodromo Nazionale Monza", "Grand Prix", 2, 3.6, 11, 106.0,
          "Monza, Italy", 45.6156, 9.2811, "Europe/Rome", "monza\\gp"),
    Track(218, "Circuit Gilles Villeneuve", "N/A", 2, 2.71, 14, 92.0,
          "Montreal, Quebec, Canada", 45.5005, -73.5224, "America/Montreal", "montreal"),
    Track(163, "Circuit de Spa-Francorchamps", "Grand Prix Pits", 2, 4.35, 20, 138.0,
          "Stavelot, Belgium", 50.4372, 5.9714, "Europe/Brussels", "spa\\gp"),
    Track(47, "WeatherTech Raceway at Laguna Seca", "Full Course", 2, 2.24, 11, 86.0,
          "Monterey, California, USA", 36.5841, -121.7534, "America/Los_Angeles",
          "lagunaseca"),
    Track(212, "Autódromo José Carlos Pace", "Grand Prix", 2, 2.68, 15, 72.0,
          "São Paulo, Brazil", -23.7036, -46.6997, "America/Sao_Paulo", "interlagos\\gp"),
    Track(390, "Hockenheimring Baden-Württemberg", "Grand Prix", 2, 2.84, 17, 90.0,
          "Hockenheim, Germany", 49.3278, 8.5656, "Europe/Berlin", "hockenheim\\gp"),
    Track(252, "Suzuka International Racing Course", "Grand Prix", 2, 3.6, 18, 125.0,
          "Suzuka, Mie, Japan", 34.8431, 136.5407, "Asia/Tokyo", "suzuka\\gp"),
    Track(110, "Charlotte Motor Speedway", "Oval", 1, 1.5, 4, 29.5,
          "Concord, North Carolina, USA", 35.3523, -80.6828, "America/New_York",
          "charlotte\\oval"),
    Track(191, "Daytona International Speedway", "Oval", 1, 2.5, 4, 48.0,
          "Daytona Beach, Florida, USA", 29.1852, -81.0705, "America/New_York",
          "daytona\\oval"),
    Track(33, "Martinsville Speedway", "Oval", 1, 0.526, 4, 20.0,
          "Ridgeway, Virginia, USA", 36.6341, -79.8517, "America/New_York", "martinsville"),
    Track(20, "Michigan International Speedway", "Oval", 1, 2.0, 4, 37.0,
          "Brooklyn, Michigan, USA", 42.0664, -84.2411, "America/Detroit", "michigan\\oval"),
    Track(276, "Eldora Speedway", "Oval", 3, 0.5, 4, 14.5,
          "New Weston, Ohio, USA", 40.3361, -84.6428, "America/New_York", "eldora"),
    Track(300, "Knoxville Raceway", "Oval", 3, 0.5, 4, 15.0,
          "Knoxville, Iowa, USA", 41.3197, -93.0989, "America/Chicago", "knoxville"),
    Track(363, "Williams Grove Speedway", "Oval", 3, 0.5, 4, 15.0,
          "Mechanicsburg, Pennsylvania, USA", 40.1586, -77.0297, "America/New_York",
          "williamsgrove"),
    Track(327, "Wild Horse Pass Motorsports Park", "Rallycross", 4, 0.6, 8, 45.0,
          "Chandler, Arizona, USA", 33.2669, -111.9906, "America/Phoenix", "wildhorse\\rx"),
    Track(265, "Lucas Oil Indianapolis Raceway Park", "Rallycross", 4, 0.62, 9, 44.0,
          "Brownsburg, Indiana, USA", 39.8149, -86.3394, "America/Indiana/Indianapolis",
          "irp\\rx"),
    Track(380, "Crandon International Raceway", "Full", 4, 1.2, 10, 75.0,
          "Crandon, Wisconsin, USA", 45.5691, -88.9048, "America/Chicago", "crandon\\full"),
)
# fmt: on
TRACKS_BY_ID: dict[int, Track] = {track.track_id: track for track in TRACKS}
TRACKS_BY_CATEGORY: dict[int, tuple[Track, ...]] = {
    cat: tuple(t for t in TRACKS if t.category == cat) for cat in (1, 2, 3, 4)
}

SERIES_TEMPLATES: tuple[SeriesTemplate, ...] = (
    SeriesTemplate("Global Mazda MX-5 Cup", 5, (67,), 1),
    SeriesTemplate("Formula C - Dallara F3 Series", 6, (106,), 3, time_trials=True),
    SeriesTemplate("GT Endurance Team Series", 5, (132, 156), 4, team=True),
    SeriesTemplate("Stock Car Cup Series", 1, (123,), 4, supersessions=True),
    SeriesTemplate("Skip Barber Race Series", 6, (1,), 2, time_trials=True),
    SeriesTemplate("Dirt Sprint Car Series", 3, (114,), 2, heats=True),
    SeriesTemplate("Pro 2 Lite Off-Road Series", 4, (82,), 2),
    SeriesTemplate("Grand Prix Series", 6, (145,), 5),
    SeriesTemplate("Touring Car Challenge", 5, (44,), 2),
)
SERIES_ID_BASE = 200

FIRST_NAMES: tuple[str, ...] = (
    "Adrian",
    "Alex",
    "Anna",
    "Ben",
    "Carla",
    "Chris",
    "Dan",
    "Elena",
    "Emil",
    "Fatima",
    "Felipe",
    "Greta",
    "Hannah",
    "Hiro",
    "Ivan",
    "Jake",
    "Jana",
    "João",
    "Kai",
    "Lars",
    "Laura",
    "Leo",
    "Lucía",
    "Marco",
    "Maria",
    "Mateo",
    "Mia",
    "Nils",
    "Noah",
    "Olga",
    "Oscar",
    "Paula",
    "Pedro",
    "Quinn",
    "Rafael",
    "Rosa",
    "Sam",
    "Sara",
    "Sebastián",
    "Sofia",
    "Søren",
    "Tom",
    "Uma",
    "Victor",
    "Wei",
    "Xavier",
    "Yara",
    "Yusuf",
    "Zoe",
    "Łukasz",
)
LAST_NAMES: tuple[str, ...] = (
    "Almeida",
    "Andersson",
    "Baker",
    "Becker",
    "Bianchi",
    "Boyle",
    "Clark",
    "Costa",
    "Dennis",
    "Dubois",
    "Evans",
    "Fischer",
    "García",
    "Hansen",
    "Hughes",
    "Ito",
    "Jansen",
    "Kaner",
    "Kowalski",
    "Larsen",
    "Lopez",
    "Martin",
    "Mcbride",
    "Meyer",
    "Moreau",
    "Müller",
    "Nakamura",
    "Nielsen",
    "Novak",
    "O'Brien",
    "Petrov",
    "Quintero",
    "Rossi",
    "Saura",
    "Schmidt",
    "Silva",
    "Smith",
    "Suzuki",
    "Taylor",
    "Thompson",
    "Vidaña",
    "Walker",
    "Weber",
    "Wilson",
    "Wright",
    "Young",
    "Zhang",
    "Zimmer",
    "Østergaard",
    "Öztürk",
)

# country code, flair id, flair name, flair short name, club id, club name
COUNTRIES: tuple[tuple[str, int, str, str, int, str], ...] = (
    ("US", 225, "United States", "USA", 7, "Carolina"),
    ("GB", 224, "United Kingdom", "GBR", 42, "UK and I"),
    ("DE", 80, "Germany", "DEU", 43, "DE-AT-CH"),
    ("BR", 30, "Brazil", "BRA", 40, "Brazil"),
    ("AU", 16, "Australia", "AUS", 34, "Australia/NZ"),
    ("FR", 73, "France", "FRA", 44, "France"),
    ("ES", 201, "Spain", "ESP", 46, "Iberia"),
    ("IT", 108, "Italy", "ITA", 45, "Italy"),
    ("JP", 110, "Japan", "JPN", 47, "Asia"),
    ("NL", 152, "Netherlands", "NLD", 48, "Benelux"),
    ("PL", 172, "Poland", "POL", 49, "Central-Eastern Europe"),
    ("DK", 58, "Denmark", "DNK", 50, "Scandinavia"),
)

HELMET_COLORS: tuple[str, ...] = (
    "981f24",
    "000000",
    "ed2129",
    "ffffff",
    "2a3795",
    "fff000",
    "73182c",
    "cefa0a",
    "0153db",
    "ff6600",
    "33cc00",
    "777777",
)

# award id, name, group name, description, achievement, weight
AWARDS: tuple[tuple[int, str, str, str, bool, int], ...] = (
    (
        88,
        "Driving School Completion Award",
        "Driving School Completion",
        "Watch all of the driving school videos.",
        False,
        0,
    ),
    (1, "Rookie License", "Licenses", "Earn a Rookie license.", False, 10),
    (2, "Class D License", "Licenses", "Earn a Class D license.", False, 20),
    (3, "Class C License", "Licenses", "Earn a Class C license.", False, 30),
    (4, "Class B License", "Licenses", "Earn a Class B license.", False, 40),
    (5, "Class A License", "Licenses", "Earn a Class A license.", False, 50),
    (20, "First Official Race", "Participation", "Start an official race.", True, 100),
    (21, "10 Official Races", "Participation", "Start ten official races.", True, 110),
    (22, "100 Official Races", "Participation", "Start one hundred official races.", True, 120),
    (30, "First Win", "Wins", "Win an official race.", True, 200),
    (31, "10 Wins", "Wins", "Win ten official races.", True, 210),
    (40, "First Podium", "Podiums", "Finish an official race in the top three.", True, 300),
    (50, "Clean Race", "Safety", "Finish an official race with no incidents.", True, 400),
    (
        51,
        "Clean Sweep",
        "Safety",
        "Finish five official races in a row without incidents.",
        True,
        410,
    ),
    (60, "Season Participant", "Seasons", "Race in eight weeks of one season.", False, 500),
    (61, "Division Champion", "Seasons", "Win your division in a season.", False, 510),
    (70, "Night Owl", "Fun", "Complete a race that starts at night.", True, 600),
    (71, "Rain Master", "Fun", "Complete a race on a wet track.", True, 610),
    (
        72,
        "Are You Afraid of the Dark?",
        "Fun",
        "Complete an uphill run at night in any car.",
        True,
        810,
    ),
    (80, "Hosted Host", "Hosted", "Host a session with at least ten drivers.", True, 700),
    (81, "League Racer", "Hosted", "Race in a league session.", True, 710),
    (90, "Endurance Finisher", "Endurance", "Finish a race of six hours or more.", True, 900),
)

# team names: a word and a noun (cycled, numbered once every pair is taken)
TEAM_WORDS: tuple[str, ...] = (
    "Apex",
    "Late Brake",
    "Blue Flag",
    "Pit Lane",
    "Slipstream",
    "Full Send",
    "Redline",
    "Chicane",
    "Kerb Hop",
    "Green Flag",
    "Tyre Smoke",
    "Night Stint",
)
TEAM_NOUNS: tuple[str, ...] = (
    "Racing",
    "Motorsport",
    "Endurance",
    "Collective",
    "Sim Team",
    "Works",
    "Engineering",
)

HOSTED_SESSION_NAMES: tuple[str, ...] = (
    "Friday Night Thunder",
    "Sunday Sprint",
    "Open Practice and Race",
    "Midweek Madness",
    "Rookie Friendly Race",
    "Endurance Warm-up",
)

LEAGUE_NAMES: tuple[str, ...] = (
    "Missed Apex Racing League",
    "Sim Racing Alliance",
    "Thursday Night Thunder League",
    "Clean Racers Club",
)
# A league's hosted sessions use these cars (index = league number - 1, cycled).
LEAGUE_CARS: tuple[tuple[int, ...], ...] = (
    (132, 156),
    (67,),
    (106,),
    (44,),
)
