"""Topic classifier: IPTC Media Topics, top level, from weighted English lexicons.

See ``docs/taxonomy.md`` for the taxonomy and the method. In short: every topic has a lexicon
of lowercase singular words and phrases, each with a weight (3 = nearly decisive, such as
"carbon emission"; 2 = typical; 1 = supporting evidence, such as "company"). The evidence for
a topic is the sum over matched entries of ``weight * (1 + ln count)`` (a term repeated ten
times is strong evidence, not ten times the evidence); words of the title count twice. The
score is ``1 - exp(-evidence / (K0 + K1 * words ** 0.75))``, so the same evidence weighs more
in a short text than in a long one (but less than proportionally: a long article matches more
distinct terms), and it stays in [0, 1). Topics scoring at least ``THRESHOLD`` and at least
``RELATIVE`` times the best topic's score are kept, best first, at most ``TOP_K``. The
constants were set on the wcxb-dev corpus so that most articles get one or two topics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

from consumers.tagging.text import lower_singular, singular

LEXICON_VERSION = "1"
K0 = 4.0
K1 = 0.1
LENGTH_POWER = 0.75
THRESHOLD = 0.45
RELATIVE = 0.6
TOP_K = 3


@dataclass(frozen=True, slots=True)
class Topic:
    """One IPTC Media Topic of the top level."""

    code: str
    label: str


# Lexicon lines: "weight: term, term, ...". Terms are lowercase; the matcher singularizes the
# text's words, so plurals need not be listed, but other inflections do.
LEXICONS: dict[Topic, str] = {
    Topic("medtop:01000000", "arts, culture, entertainment and media"): """
        3: box office, art exhibition, film festival, grammy, oscar, emmy, album, novelist
        2: film, movie, cinema, actor, actress, singer, musician, band, concert, festival,
           museum, gallery, theatre, theater, painting, painter, sculpture, novel, poet,
           poetry, author, literature, television, tv series, documentary, hollywood,
           celebrity, music, song, opera, ballet, dance, artist, netflix, streaming,
           broadcaster, journalism, journalist, newspaper, magazine, publisher
        1: art, culture, cultural, show, star, award, entertainment, media, book, episode,
           series, director, premiere, release, fan, stage, performance, heritage""",
    Topic("medtop:16000000", "conflict, war and peace"): """
        3: ceasefire, airstrike, air strike, missile strike, peace talks, armed conflict,
           civil war, insurgent, insurgency, invasion, war crime, shelling
        2: war, military, troops, soldier, army, battle, militant, rebel, attack, bomb,
           bombing, missile, drone strike, weapon, armed, fighting, killed, casualty,
           terrorism, terrorist, occupation, hostage, refugee, nato, frontline, offensive,
           airstrikes, defense ministry, defence ministry, pentagon, peace deal, truce
        1: conflict, security force, violence, border, tension, peace, defense, defence,
           navy, air force, clash, sanction""",
    Topic("medtop:02000000", "crime, law and justice"): """
        3: arrested, convicted, sentenced, indicted, prosecutor, lawsuit, supreme court,
           murder, homicide, fraud, trial, verdict, guilty, jury, plea
        2: police, crime, criminal, court, judge, law enforcement, charged, charge, arrest,
           suspect, investigation, prison, jail, lawyer, attorney, attorney general,
           theft, robbery, smuggling, corruption, bribery, sued, ruling, appeal, shooting,
           stabbing, detective, victim, illegal, legal, justice, custody, testimony
        1: law, case, investigator, officer, allegation, alleged, accused, evidence, penalty,
           fine, regulation, rule""",
    Topic("medtop:03000000", "disaster, accident and emergency incident"): """
        3: earthquake, tsunami, wildfire, hurricane, typhoon, cyclone, tornado, landslide,
           plane crash, car crash, derailment, explosion, rescue worker, death toll,
           evacuation, evacuated
        2: flood, flooding, disaster, accident, crash, fire, firefighter, emergency,
           rescue, survivor, collapse, blaze, drowned, injured, victims, emergency service,
           search and rescue, eruption, volcano, drought, famine, spill, leak
        1: damage, destroyed, killed, dead, missing, casualty, relief, emergency response""",
    Topic("medtop:04000000", "economy, business and finance"): """
        3: stock market, share price, interest rate, central bank, inflation, gdp,
           quarterly profit, earnings, revenue, acquisition, merger, ipo, steel, iron ore,
           production capacity, economic growth, recession, trade deal, tariff
        2: economy, economic, market, business, company, industry, industrial, investor,
           investment, bank, banking, finance, financial, profit, loss, sales, price,
           manufacturing, manufacturer, production, output, export, import, trade, retail,
           retailer, shareholder, stock, share, bond, currency, dollar, euro, yuan, debt,
           budget, tax, oil price, commodity, supply chain, startup, ceo, chief executive,
           restructuring, bankruptcy, enterprise, firm, corporation, capacity, demand,
           consumer, mining, mine, ore, coal, oil, gas, energy, automaker, supplier
        1: cost, percent, growth, billion, million, fund, sector, brand, product, customer,
           deal, supply, contract, plant, factory, capital, asset, valuation, earnings call""",
    Topic("medtop:05000000", "education"): """
        3: school, university, college, student, teacher, classroom, curriculum, tuition,
           campus, kindergarten, graduate, undergraduate
        2: education, educational, pupil, professor, lecturer, exam, degree, scholarship,
           academic, learning, teaching, literacy, school board, enrollment, enrolment
        1: class, course, study, lesson, semester, grade, training""",
    Topic("medtop:06000000", "environment"): """
        3: carbon neutrality, carbon neutralization, carbon emission, greenhouse gas,
           net-zero, net zero, climate change, global warming, carbon dioxide, emission,
           renewable energy, deforestation, biodiversity, pollution, carbon peak,
           carbon-peak, climate crisis, emissions reduction, decarbonization
        2: climate, carbon, environmental, environment, pollutant, solar power, wind power,
           renewable, recycling, recycle, conservation, wildlife, endangered species,
           ecosystem, forest, reforestation, planting tree, plastic waste, air quality,
           fossil fuel, sustainability, sustainable, green energy, electric vehicle, ozone,
           paris agreement, clean energy, habitat, species, toxic, contamination
        1: tree, ocean, river, waste, water, nature, green, energy efficiency, coal, land""",
    Topic("medtop:07000000", "health"): """
        3: covid-19, coronavirus, pandemic, vaccine, vaccination, hospital, patient,
           disease, cancer, diabetes, virus, infection, clinical trial, public health,
           mental health, epidemic, outbreak
        2: health, medical, medicine, doctor, nurse, physician, drug, treatment, therapy,
           symptom, diagnosis, healthcare, health care, illness, surgery, nutrition, diet,
           obesity, vitamin, protein, immune system, antibody, fda, who, dementia,
           heart disease, blood pressure, clinic, pharmaceutical, wellness
        1: care, risk, study, researcher, body, sleep, exercise, fitness, food, healthy,
           weight, dose""",
    Topic("medtop:08000000", "human interest"): """
        3: birthday, anniversary, wedding, centenarian, heartwarming
        2: animal, pet, dog, cat, celebrity, royal family, prince, princess, queen,
           king charles, record-breaking, oldest, viral, family, love
        1: life, story, friend, child, mother, father, daughter, son""",
    Topic("medtop:09000000", "labour"): """
        3: unemployment, labour market, labor market, trade union, labor union, strike,
           minimum wage, layoff, job cut, employment rate, jobless
        2: worker, employee, employer, job, jobs, wage, salary, union, hiring, hired,
           workforce, employment, pension, retirement, workplace, labour, labor, overtime,
           redundancy, fired, staff
        1: work, career, recruitment, benefit, contract""",
    Topic("medtop:10000000", "lifestyle and leisure"): """
        3: recipe, travel destination, vacation, holiday season, fashion week
        2: travel, tourism, tourist, hotel, restaurant, food, cooking, cuisine, chef, meal,
           fashion, style, beauty, shopping, hobby, gardening, garden, game, gaming, leisure,
           wine, beer, coffee, home decor, wellness, fitness, yoga, outdoor, vacation,
           holiday, trip, resort, cruise
        1: fun, weekend, season, taste, flavor, flavour, design, dish, home, lifestyle""",
    Topic("medtop:11000000", "politics"): """
        3: election, parliament, congress, senate, president, prime minister, legislation,
           lawmaker, legislature, referendum, campaign, voter, ballot, cabinet, diplomat,
           diplomacy, minister
        2: political, politics, politician, party, democrat, republican, governor, mayor,
           vote, voting, policy, policies, ministry, senator, opposition, administration,
           government,
           white house, foreign minister, summit, bill, regulation, regulator, state council,
           official, spokesperson, spokesman, spokeswoman, sanction
        1: state, national, federal, public, department, agency, reform, leader, law,
           authority""",
    Topic("medtop:12000000", "religion"): """
        3: church, mosque, temple, synagogue, pope, vatican, bishop, priest, imam, rabbi,
           religious, religion, christianity, islam, judaism, buddhism, hinduism
        2: faith, christian, muslim, jewish, hindu, buddhist, catholic, protestant, prayer,
           worship, clergy, pilgrimage, ramadan, christmas, easter, bible, quran, god,
           spiritual, sermon
        1: holy, saint, belief, ritual""",
    Topic("medtop:13000000", "science and technology"): """
        3: artificial intelligence, machine learning, scientist, research, researcher,
           laboratory, spacecraft, nasa, astronomer, physics, chemistry, biology, genome,
           semiconductor, software, smartphone, cybersecurity, algorithm, robot, satellite
        2: science, scientific, technology, tech, experiment, computer, internet, digital,
           chip, ai, outer space, space station, rocket, telescope, innovation, engineering,
           engineer, discovery, self-driving, autonomous, information technology, 5g,
           quantum, data science, cloud computing
        1: study, data, app, online, system, model, test, develop, development, launch,
           device, electric, battery, platform, network, startup""",
    Topic("medtop:14000000", "society"): """
        3: discrimination, racism, poverty, homelessness, immigration, immigrant,
           human rights, civil rights, gender equality, social welfare, inequality
        2: social, society, population, migrant, migration, charity, welfare, protest,
           protester, equality, diversity, minority, lgbt, gender, demographic, nonprofit,
           women's rights, social justice, affordable housing
        1: community, family, housing, volunteer, demonstration, women, youth, elderly,
           aging
        1: people, resident, citizen, public, neighborhood, neighbourhood, group""",
    Topic("medtop:15000000", "sport"): """
        3: football, soccer, basketball, baseball, tennis, cricket, rugby, golf, hockey,
           olympics, olympic, world cup, championship, tournament, premier league, nba,
           nfl, fifa, uefa, grand slam, athlete, coach, goalkeeper, striker, quarterback
        2: sport, sports, player, league, scored, victory, defeat, semi-final, stadium,
           racing, medal, champion, referee, squad, playoff, goalkeeper, midfielder,
           home game, away game, head coach, match report, final whistle
        1: match, game, team, season, score, goal, win, won, final, title, club, race, cup,
           fan, injury, transfer, play, played, beat""",
    Topic("medtop:17000000", "weather"): """
        3: weather forecast, forecaster, heatwave, heat wave, snowstorm, blizzard,
           meteorological, met office, national weather service, rainfall, temperature
        2: weather, forecast, storm, thunderstorm, celsius, fahrenheit, frost, humidity
        1: rain, snow, wind, heat, cold, fog, hail, sunny, cloudy, degree, warm, dry, wet""",
}


@dataclass(frozen=True, slots=True)
class _Compiled:
    """Lexicons indexed for matching: unigram weights and phrases by their first word."""

    words: dict[str, list[tuple[int, float]]]
    phrases: dict[str, list[tuple[tuple[str, ...], int, float]]]
    topics: tuple[Topic, ...]
    weights: dict[tuple[int, tuple[str, ...]], float]
    # Every word that starts a term: most words of an article start none.
    starts: frozenset[str]


def _norm_term(term: str) -> tuple[str, ...]:
    return tuple(singular(w) for w in term.lower().split())


@cache
def _compiled() -> _Compiled:
    topics = tuple(LEXICONS)
    words: dict[str, list[tuple[int, float]]] = {}
    phrases: dict[str, list[tuple[tuple[str, ...], int, float]]] = {}
    weights: dict[tuple[int, tuple[str, ...]], float] = {}
    for ti, topic in enumerate(topics):
        seen: set[tuple[str, ...]] = set()
        for line in LEXICONS[topic].split("\n"):
            if ":" in line:
                head, _, line = line.partition(":")
                weight = float(head)
            for raw in line.split(","):
                key = _norm_term(raw)
                # A term listed twice for one topic keeps its first (highest) weight.
                if not key or key in seen:
                    continue
                seen.add(key)
                weights[(ti, key)] = weight
                if len(key) == 1:
                    words.setdefault(key[0], []).append((ti, weight))
                else:
                    phrases.setdefault(key[0], []).append((key, ti, weight))
    return _Compiled(words, phrases, topics, weights, frozenset(words) | frozenset(phrases))


def _match(norm: list[str], counts: dict[tuple[int, tuple[str, ...]], int], mult: int) -> None:
    comp = _compiled()
    n = len(norm)
    starts = comp.starts
    for i, w in enumerate(norm):
        if w not in starts:
            continue
        for ti, _ in comp.words.get(w, ()):
            k: tuple[int, tuple[str, ...]] = (ti, (w,))
            counts[k] = counts.get(k, 0) + mult
        for key, ti, _ in comp.phrases.get(w, ()):
            if i + len(key) <= n and tuple(norm[i : i + len(key)]) == key:
                k = (ti, key)
                counts[k] = counts.get(k, 0) + mult


def normalize_words(words: list[str]) -> list[str]:
    """Lowercase singular forms, the vocabulary the lexicons are written in."""
    return [lower_singular(w) for w in words]


def classify(title_words: list[str], body_words: list[str]) -> list[tuple[Topic, float]]:
    """Topics whose score passes the threshold, best first, with their scores."""
    comp = _compiled()
    counts: dict[tuple[int, tuple[str, ...]], int] = {}
    _match(normalize_words(title_words), counts, 2)
    _match(normalize_words(body_words), counts, 1)
    evidence = [0.0] * len(comp.topics)
    for k, c in counts.items():
        evidence[k[0]] += comp.weights[k] * (1.0 + math.log(c))
    scale = K0 + K1 * (len(body_words) + len(title_words)) ** LENGTH_POWER
    scored = [
        (comp.topics[ti], 1.0 - math.exp(-e / scale)) for ti, e in enumerate(evidence) if e > 0
    ]
    best = max((s for _, s in scored), default=0.0)
    scored = [(t, round(s, 4)) for t, s in scored if s >= THRESHOLD and s >= RELATIVE * best]
    scored.sort(key=lambda ts: (-ts[1], ts[0].code))
    return scored[:TOP_K]
