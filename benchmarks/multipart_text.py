"""The prose of the bundled multi-part sample (written for llm-rerank; Apache-2.0).

Each query lists its parts; each part has a sentence that answers it fully (``full``) and
one that answers it only partly or vaguely (``partial``); ``distractors`` are on the
query's topic but answer none of its parts. ``make_multipart.py`` composes passages from
these sentences and grades them per part.
"""

from __future__ import annotations

QUERIES: list[dict[str, object]] = [
    {
        "id": "heatpump",
        "query": "how does a heat pump warm a house in winter and is it cheaper to run than "
                 "a gas boiler",
        "parts": [
            ("How does a heat pump warm a house in winter?",
             "A heat pump moves heat rather than making it: a refrigerant absorbs warmth from "
             "the outdoor air even below freezing, a compressor raises its temperature, and "
             "the heat is released into the radiators or underfloor pipes.",
             "Heat pumps keep working in cold weather, although their output drops when the "
             "outdoor temperature falls well below zero."),
            ("Is a heat pump cheaper to run than a gas boiler?",
             "With a seasonal efficiency of around 3, a heat pump delivers three units of heat "
             "per unit of electricity, so it costs less to run than a gas boiler whenever "
             "electricity is less than about three times the price of gas.",
             "Running costs depend heavily on local energy tariffs, and some households see "
             "smaller bills after switching while others do not."),
        ],
        "distractors": [
            "Gas boilers should be serviced once a year by a registered engineer to check "
            "the flue and the burner.",
            "The first practical heat pump was built in the 1850s to evaporate salt brine in "
            "Austrian salt works.",
            "Many governments offer grants for insulation, which reduces the heat a house "
            "loses through its walls and loft.",
        ],
    },
    {
        "id": "vaccine",
        "query": "how do mRNA vaccines teach the immune system and why are booster doses "
                 "needed",
        "parts": [
            ("How do mRNA vaccines teach the immune system?",
             "An mRNA vaccine delivers instructions that let the body's own cells make a "
             "harmless piece of the virus's spike protein, which B and T cells learn to "
             "recognise and remember.",
             "The vaccine trains the body's defences to recognise a specific virus before a "
             "real infection happens."),
            ("Why are booster doses needed?",
             "Antibody levels fall in the months after vaccination and new variants escape "
             "some of them, so a booster restores high antibody levels and broadens the "
             "response.",
             "Health agencies periodically recommend additional doses for older adults."),
        ],
        "distractors": [
            "The cold chain keeps vaccines between strict temperature limits from the "
            "factory to the clinic.",
            "Edward Jenner tested the first smallpox vaccine in 1796 using material from "
            "cowpox sores.",
            "Sore arms and mild fever are common for a day or two after an injection.",
        ],
    },
    {
        "id": "sourdough",
        "query": "why does sourdough bread rise without commercial yeast, how long should "
                 "the dough ferment, and why does it taste sour",
        "parts": [
            ("Why does sourdough rise without commercial yeast?",
             "A sourdough starter is a culture of wild yeasts that ferment the flour's "
             "sugars and release carbon dioxide, which the gluten network traps so the loaf "
             "rises.",
             "The starter, a mix of flour and water kept alive for years, is what makes the "
             "dough grow."),
            ("How long should sourdough dough ferment?",
             "Bulk fermentation usually takes four to six hours at about 24 °C, and many "
             "bakers then proof the shaped loaf overnight in the fridge for 12 to 16 hours.",
             "Fermentation is slower than with packet yeast, so plan the bake well ahead."),
            ("Why does sourdough taste sour?",
             "Lactic acid bacteria living alongside the yeast produce lactic and acetic "
             "acids, and these acids give sourdough its tangy flavour.",
             "The longer and cooler the fermentation, the more pronounced the tang "
             "becomes."),
        ],
        "distractors": [
            "San Francisco is famous for its sourdough, sold to gold miners in the 1840s.",
            "A Dutch oven traps steam around the loaf during the first part of baking.",
            "Rye flour absorbs more water than wheat flour and makes a denser crumb.",
        ],
    },
    {
        "id": "tides",
        "query": "what causes ocean tides and why are there two high tides a day",
        "parts": [
            ("What causes ocean tides?",
             "Tides are caused mainly by the Moon's gravity pulling on the oceans, with the "
             "Sun adding a smaller pull that produces spring and neap tides.",
             "The sea level along a coast rises and falls in a regular rhythm linked to the "
             "Moon."),
            ("Why are there two high tides a day?",
             "The Moon's pull stretches the oceans into two bulges, one facing the Moon and "
             "one on the far side where the pull is weakest, and the Earth rotates through "
             "both bulges each day.",
             "Most coasts see the water come in twice in roughly 25 hours."),
        ],
        "distractors": [
            "Tide tables are published by harbour authorities so that ships can plan when to "
            "enter port.",
            "Tidal power stations such as La Rance in France turn the flow of water into "
            "electricity.",
            "Rock pools left by the falling tide are home to anemones, crabs and small fish.",
        ],
    },
    {
        "id": "photosynthesis",
        "query": "how do plants turn sunlight into sugar and why are leaves green",
        "parts": [
            ("How do plants turn sunlight into sugar?",
             "In photosynthesis, chlorophyll captures light energy that splits water, and the "
             "energy is used in the Calvin cycle to fix carbon dioxide from the air into "
             "glucose.",
             "Leaves use light to make food for the plant."),
            ("Why are leaves green?",
             "Chlorophyll absorbs red and blue light strongly but reflects most green light, "
             "so the light that reaches our eyes from a leaf is mostly green.",
             "The colour of a leaf comes from the pigments it contains."),
        ],
        "distractors": [
            "In autumn many trees shed their leaves to save water during the winter.",
            "Greenhouses let gardeners extend the growing season by trapping heat.",
            "Carnivorous plants such as the Venus flytrap grow in nitrogen-poor bogs.",
        ],
    },
    {
        "id": "inflation",
        "query": "what causes inflation, how do central banks fight it, and who is hurt most "
                 "by rising prices",
        "parts": [
            ("What causes inflation?",
             "Inflation rises when demand outpaces what the economy can produce, or when "
             "costs such as energy and wages push up prices, and it can persist if people "
             "come to expect it.",
             "Prices across the economy sometimes climb faster than usual."),
            ("How do central banks fight inflation?",
             "Central banks raise their policy interest rate, which makes borrowing more "
             "expensive, cools spending and investment, and brings inflation back towards "
             "the target over a year or two.",
             "Monetary policy is the main tool used to keep prices stable."),
            ("Who is hurt most by rising prices?",
             "Low-income households are hit hardest, because food and energy take a larger "
             "share of their budgets, as are savers and people on fixed incomes whose money "
             "buys less each year.",
             "Not everyone feels higher prices in the same way."),
        ],
        "distractors": [
            "The Bank of England was founded in 1694 to act as the government's banker.",
            "Consumer surveys ask households how confident they feel about the economy.",
            "Stock markets often react sharply to announcements from central bankers.",
        ],
    },
    {
        "id": "marathon",
        "query": "how should a beginner train for a marathon and what should they eat on "
                 "race day",
        "parts": [
            ("How should a beginner train for a marathon?",
             "A beginner should follow a plan of about 16 to 20 weeks with three to five runs "
             "a week, building the weekly long run gradually to around 30 km and tapering "
             "for the last two to three weeks.",
             "Training for a first marathon takes several months of regular running."),
            ("What should a marathon runner eat on race day?",
             "On race day eat a familiar carbohydrate-rich breakfast three hours before the "
             "start, then take in 30 to 60 grams of carbohydrate an hour from gels or sports "
             "drinks during the race.",
             "Nutrition matters on the day, and nothing new should be tried at the race."),
        ],
        "distractors": [
            "The marathon distance of 42.195 km was fixed at the 1908 London Olympics.",
            "Good running shoes should be replaced every 600 to 800 km.",
            "Big city marathons often use a ballot because demand for places is so high.",
        ],
    },
    {
        "id": "bees",
        "query": "why are bee populations declining and how can gardeners help them",
        "parts": [
            ("Why are bee populations declining?",
             "Bees are declining because of habitat loss, pesticides such as neonicotinoids, "
             "parasites like the varroa mite and the diseases it spreads, and a changing "
             "climate.",
             "Surveys have recorded fewer wild bees in many regions."),
            ("How can gardeners help bees?",
             "Gardeners can help by planting flowers that bloom from early spring to late "
             "autumn, leaving some lawn uncut, avoiding pesticides and providing bare soil "
             "or bee hotels for nesting.",
             "Even a small garden can make a difference to local insects."),
        ],
        "distractors": [
            "Honey was found in Egyptian tombs and was still edible thousands of years "
            "later.",
            "A worker bee lives for about six weeks in summer.",
            "Beeswax is used in candles, cosmetics and furniture polish.",
        ],
    },
    {
        "id": "blackhole",
        "query": "how do black holes form, what happens at the event horizon, and how do "
                 "astronomers detect them",
        "parts": [
            ("How do black holes form?",
             "A stellar black hole forms when a massive star runs out of fuel and its core "
             "collapses under its own gravity into a region so dense that nothing can "
             "escape.",
             "Black holes are the remains of some very large stars."),
            ("What happens at the event horizon of a black hole?",
             "The event horizon is the boundary where the escape velocity equals the speed "
             "of light: anything crossing it, even light, can never come back out.",
             "Near a black hole, strange things happen to light and time."),
            ("How do astronomers detect black holes?",
             "Astronomers detect black holes from the orbits of nearby stars, the X-rays of "
             "gas heated as it falls in, gravitational waves from merging pairs, and "
             "direct images of the shadow taken by the Event Horizon Telescope.",
             "Although black holes emit no light, there are indirect ways to find them."),
        ],
        "distractors": [
            "The Milky Way contains between 100 and 400 billion stars.",
            "Neutron stars can spin hundreds of times a second.",
            "Science fiction films often show wormholes as shortcuts through space.",
        ],
    },
    {
        "id": "sleep",
        "query": "how much sleep do teenagers need and why do they fall asleep later than "
                 "adults",
        "parts": [
            ("How much sleep do teenagers need?",
             "Teenagers aged 13 to 18 need about 8 to 10 hours of sleep a night, according "
             "to sleep medicine guidelines.",
             "Adolescents need more sleep than most of them actually get."),
            ("Why do teenagers fall asleep later than adults?",
             "During puberty the body releases melatonin about two hours later in the "
             "evening, shifting the internal clock so teenagers feel sleepy later and "
             "struggle to wake early.",
             "Many parents notice their teenagers becoming night owls."),
        ],
        "distractors": [
            "Some schools have moved their start time later in the morning.",
            "Caffeine stays in the body for several hours after a cup of coffee.",
            "Dreams happen mostly during REM sleep.",
        ],
    },
    {
        "id": "solar",
        "query": "how do solar panels produce electricity, how long do they last, and do "
                 "they work on cloudy days",
        "parts": [
            ("How do solar panels produce electricity?",
             "Solar panels are made of silicon cells in which light knocks electrons loose, "
             "and the electric field at the junction between two silicon layers drives them "
             "as a direct current.",
             "Panels on a roof turn sunshine into power for the house."),
            ("How long do solar panels last?",
             "Most panels carry a 25-year performance warranty and lose about half a percent "
             "of their output each year, so many keep working for 30 years or more.",
             "Panels are built to last for decades on a roof."),
            ("Do solar panels work on cloudy days?",
             "Solar panels still generate on cloudy days from diffuse light, typically "
             "producing 10 to 25 percent of their full-sun output under thick cloud.",
             "Output varies with the weather."),
        ],
        "distractors": [
            "The price of solar modules fell by about 90 percent between 2010 and 2020.",
            "Inverters should be mounted in a cool, shaded place.",
            "Some countries pay households for electricity they export to the grid.",
        ],
    },
    {
        "id": "coffee",
        "query": "is coffee bad for your heart and how much caffeine is safe per day",
        "parts": [
            ("Is coffee bad for your heart?",
             "Large studies find that moderate coffee drinking is not linked to heart "
             "disease and may even lower the risk of heart failure, although it can briefly "
             "raise blood pressure.",
             "Researchers have long debated the effects of coffee on health."),
            ("How much caffeine is safe per day?",
             "For healthy adults, up to 400 mg of caffeine a day, about four cups of brewed "
             "coffee, is considered safe; pregnant women are advised to stay below 200 mg.",
             "Too much caffeine can cause jitters and trouble sleeping."),
        ],
        "distractors": [
            "Coffee plants were first cultivated in Yemen in the fifteenth century.",
            "Espresso is made by forcing hot water through finely ground coffee.",
            "Decaffeinated beans are often processed with water or carbon dioxide.",
        ],
    },
    {
        "id": "rome",
        "query": "why did the Western Roman Empire fall and when did it end",
        "parts": [
            ("Why did the Western Roman Empire fall?",
             "Historians point to a mix of causes: repeated civil wars, a strained economy "
             "and tax base, pressure from migrating Germanic peoples and the Huns, and an "
             "army increasingly made of foreign troops.",
             "The decline of Rome has been debated by historians for centuries."),
            ("When did the Western Roman Empire end?",
             "The Western Empire is usually said to have ended in 476 AD, when Odoacer "
             "deposed the last emperor, Romulus Augustulus.",
             "The empire in the west came to an end in late antiquity."),
        ],
        "distractors": [
            "The Colosseum could hold around 50,000 spectators.",
            "Roman roads were built with layers of stone and gravel and many still survive.",
            "Latin evolved into Italian, French, Spanish, Portuguese and Romanian.",
        ],
    },
    {
        "id": "ev",
        "query": "how far can an electric car go on one charge, how long does charging take, "
                 "and do the batteries wear out",
        "parts": [
            ("How far can an electric car go on one charge?",
             "Most new electric cars travel between 300 and 500 km on a full charge, less "
             "in cold weather or at motorway speeds.",
             "Range has improved a lot with each new generation of cars."),
            ("How long does it take to charge an electric car?",
             "A rapid charger can take a typical battery from 10 to 80 percent in 20 to 40 "
             "minutes, while a home wallbox needs about 6 to 12 hours for a full charge.",
             "Charging time depends on the kind of charger used."),
            ("Do electric car batteries wear out?",
             "Batteries lose capacity slowly, typically keeping 80 to 90 percent after "
             "160,000 km, and most makers guarantee them for eight years.",
             "Like phone batteries, car batteries age over time."),
        ],
        "distractors": [
            "The first electric carriages appeared in the 1830s.",
            "Electric cars are quieter than petrol cars at low speed.",
            "Many cities offer free parking for electric vehicles.",
        ],
    },
    {
        "id": "antibiotics",
        "query": "why don't antibiotics work on viruses, how does resistance develop, and "
                 "why finish the full course",
        "parts": [
            ("Why don't antibiotics work on viruses?",
             "Antibiotics attack structures that only bacteria have, such as the cell wall "
             "and bacterial ribosomes, while viruses have none of them and replicate inside "
             "our own cells.",
             "Doctors do not prescribe antibiotics for a cold."),
            ("How does antibiotic resistance develop?",
             "Resistance develops when an antibiotic kills the susceptible bacteria and the "
             "few with resistance mutations or genes survive, multiply and pass those genes "
             "on.",
             "Overuse of antibiotics has made some infections harder to treat."),
            ("Why should patients finish the full course of antibiotics?",
             "The traditional advice to finish the course aims to clear the infection "
             "completely, though newer evidence suggests shorter courses are often enough, "
             "so patients should follow their doctor's instructions on duration.",
             "Patients are given instructions on how long to take their tablets."),
        ],
        "distractors": [
            "Penicillin was discovered by Alexander Fleming in 1928.",
            "Some antibiotics should be taken with food to avoid stomach upset.",
            "Probiotic yoghurts contain live bacteria.",
        ],
    },
    {
        "id": "earthquake",
        "query": "what causes earthquakes and can scientists predict them",
        "parts": [
            ("What causes earthquakes?",
             "Earthquakes happen when stress built up along a fault, usually at the boundary "
             "between tectonic plates, is suddenly released as the rocks slip past each "
             "other.",
             "The ground shakes when the Earth's crust moves."),
            ("Can scientists predict earthquakes?",
             "Scientists cannot predict the time, place and size of a specific earthquake; "
             "they can only estimate probabilities for a region over decades, and early "
             "warning systems give a few seconds of notice once shaking has begun.",
             "Forecasting earthquakes remains a hard problem."),
        ],
        "distractors": [
            "The Richter scale was devised by Charles Richter in 1935.",
            "Japan builds skyscrapers on rubber bearings that absorb shaking.",
            "Volcanic islands such as Hawaii grow over hot spots in the mantle.",
        ],
    },
    {
        "id": "remote",
        "query": "does remote work make employees more productive, how does it affect "
                 "mental health, and what do companies save",
        "parts": [
            ("Does remote work make employees more productive?",
             "Studies find mixed effects on productivity: fully remote work can lower output "
             "through weaker collaboration, while hybrid arrangements usually leave "
             "productivity unchanged and reduce resignations.",
             "Managers disagree about how much gets done at home."),
            ("How does remote work affect mental health?",
             "Remote workers report less stress from commuting but more loneliness and "
             "difficulty switching off, and the effect on wellbeing depends on social "
             "contact and clear working hours.",
             "Working from home changes how people feel about their jobs."),
            ("What do companies save with remote work?",
             "Companies save mainly on office space, which can cut real-estate costs by "
             "thousands of dollars per employee per year, and they can hire from a wider "
             "area.",
             "Some firms have reduced their office footprint since 2020."),
        ],
        "distractors": [
            "Video-call software saw a surge in downloads in March 2020.",
            "Co-working spaces rent desks by the day or the month.",
            "A standing desk can be adjusted to different heights.",
        ],
    },
    {
        "id": "composting",
        "query": "how does composting turn food scraps into soil, what should not go in the "
                 "bin, how long does it take, and why does compost smell",
        "parts": [
            ("How does composting turn food scraps into soil?",
             "Bacteria, fungi and worms break down the scraps, using nitrogen-rich greens "
             "and carbon-rich browns, and the heat of their activity turns the pile into "
             "dark humus.",
             "Kitchen waste slowly breaks down into something gardeners value."),
            ("What should not go in a compost bin?",
             "Meat, fish, dairy, oils and pet faeces should be kept out of a home compost "
             "bin, because they attract rats and can carry pathogens.",
             "Not every kind of waste belongs in the heap."),
            ("How long does composting take?",
             "A hot, regularly turned heap can be ready in two to three months, while a cold "
             "heap left alone takes six months to two years.",
             "Composting is a slow process."),
            ("Why does compost smell?",
             "A foul smell means the heap is too wet or has too many greens, so it goes "
             "anaerobic; adding dry browns and turning it lets air back in.",
             "A healthy heap should smell earthy."),
        ],
        "distractors": [
            "Many councils collect garden waste in separate brown bins.",
            "Peat bogs store large amounts of carbon.",
            "Wormeries can be kept in a flat on a balcony.",
        ],
    },
    {
        "id": "language",
        "query": "how do children learn their first language and is it harder to learn a "
                 "language as an adult",
        "parts": [
            ("How do children learn their first language?",
             "Children learn their first language by hearing a great deal of speech, picking "
             "out sounds and word boundaries statistically in the first year, and then "
             "inferring grammar from the patterns around them without formal teaching.",
             "Most toddlers start saying words around their first birthday."),
            ("Is it harder to learn a language as an adult?",
             "Adults often learn vocabulary and grammar rules faster at first, but they "
             "rarely reach a native accent and complete grammatical intuition, which is "
             "easier for those who start in childhood.",
             "Many adults find learning a new language a challenge."),
        ],
        "distractors": [
            "There are more than 7,000 languages spoken in the world today.",
            "Esperanto was created in 1887 as an international language.",
            "Sign languages have grammars as complex as spoken ones.",
        ],
    },
    {
        "id": "microplastics",
        "query": "where do microplastics come from, are they harmful to human health, and "
                 "how can we reduce them",
        "parts": [
            ("Where do microplastics come from?",
             "Microplastics come from larger plastics breaking down in sunlight and waves, "
             "from synthetic fibres shed in the wash, from tyre wear on roads, and from "
             "pellets lost by industry.",
             "Tiny plastic particles are now found almost everywhere."),
            ("Are microplastics harmful to human health?",
             "Microplastics have been found in human blood and tissue, and laboratory studies "
             "link them to inflammation, but evidence of harm to human health at everyday "
             "exposures is still limited.",
             "Researchers are studying what the particles do inside the body."),
            ("How can we reduce microplastics?",
             "Filters on washing machines, fewer single-use plastics, better road runoff "
             "treatment and bans on microbeads in cosmetics all reduce the amount of "
             "microplastics released.",
             "Cutting plastic waste helps the environment."),
        ],
        "distractors": [
            "Plastic was first made from cellulose in the nineteenth century.",
            "Ocean clean-up projects use floating barriers to collect debris.",
            "Glass bottles can be recycled over and over without losing quality.",
        ],
    },
]
