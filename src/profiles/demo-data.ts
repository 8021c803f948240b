import fs from 'node:fs';
import { once } from 'node:events';

/**
 * Deterministic, realistic demo customers for the demo, tests and benchmarks: mixed Spanish- and
 * English-speaking countries with fitting names, regions, cities and postal codes. Emails use
 * reserved example domains, so no demo contact can reach a real mailbox; a few are written messily
 * (upper case, stray spaces) as real CRM exports are, and unify once normalised.
 */

export const demoColumns = [
  'email',
  'first_name',
  'last_name',
  'country',
  'state',
  'city',
  'postal_code',
  'signup_date',
  'total_spend',
  'loyalty_tier',
  'newsletter_opt_in',
] as const;

interface Place {
  state: string;
  cities: readonly string[];
  postal: (g: Draw) => string;
}

interface Country {
  name: string;
  spanish: boolean;
  domains: readonly string[];
  weight: number;
  places: readonly Place[];
}

const spanishFirst = [
  'María',
  'José',
  'Lucía',
  'Javier',
  'Carmen',
  'Alejandro',
  'Sofía',
  'Daniel',
  'Valentina',
  'Pablo',
  'Martina',
  'Diego',
  'Elena',
  'Álvaro',
  'Paula',
  'Sergio',
  'Ana',
  'Jorge',
  'Laura',
  'Raúl',
  'Inés',
  'Andrés',
  'Camila',
  'Nicolás',
];
const spanishLast = [
  'García',
  'Fernández',
  'González',
  'Rodríguez',
  'López',
  'Martínez',
  'Sánchez',
  'Pérez',
  'Gómez',
  'Martín',
  'Jiménez',
  'Ruiz',
  'Hernández',
  'Díaz',
  'Moreno',
  'Muñoz',
  'Álvarez',
  'Romero',
  'Navarro',
  'Torres',
  'Domínguez',
  'Vázquez',
  'Castro',
  'Ortega',
];
const englishFirst = [
  'James',
  'Olivia',
  'William',
  'Emma',
  'Oliver',
  'Amelia',
  'Harry',
  'Isla',
  'Jack',
  'Ava',
  'Noah',
  'Mia',
  'George',
  'Charlotte',
  'Ethan',
  'Grace',
  'Liam',
  'Chloe',
  'Lucas',
  'Emily',
  'Aoife',
  'Sean',
  'Hannah',
  'Ryan',
];
const englishLast = [
  'Smith',
  'Johnson',
  'Williams',
  'Brown',
  'Jones',
  'Taylor',
  'Wilson',
  'Davies',
  'Evans',
  'Thomas',
  'Walker',
  'Wright',
  'Robinson',
  'Thompson',
  'White',
  'Hughes',
  'Edwards',
  'Green',
  'Hall',
  'Wood',
  "O'Brien",
  'Murphy',
  'Clarke',
  'Lee',
];

/** Draws from one seeded random sequence. */
class Draw {
  constructor(readonly random: () => number) {}

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)] as T;
  }

  digits(n: number): string {
    let out = '';
    for (let i = 0; i < n; i++) out += String(Math.floor(this.random() * 10));
    return out;
  }

  letter(): string {
    return LETTERS.charAt(Math.floor(this.random() * LETTERS.length));
  }
}

const LETTERS = 'ABCDEFGHJKLMNPRSTUWXYZ';

const countries: readonly Country[] = [
  {
    name: 'Spain',
    spanish: true,
    domains: ['example.es', 'correo.example', 'example.com'],
    weight: 30,
    places: [
      {
        state: 'Comunidad de Madrid',
        cities: ['Madrid', 'Alcalá de Henares', 'Getafe'],
        postal: (g) => `28${g.digits(3)}`,
      },
      {
        state: 'Cataluña',
        cities: ['Barcelona', 'Girona', 'Sabadell'],
        postal: (g) => `08${g.digits(3)}`,
      },
      {
        state: 'Andalucía',
        cities: ['Sevilla', 'Málaga', 'Granada'],
        postal: (g) => `41${g.digits(3)}`,
      },
      {
        state: 'Comunidad Valenciana',
        cities: ['Valencia', 'Alicante', 'Elche'],
        postal: (g) => `46${g.digits(3)}`,
      },
      {
        state: 'País Vasco',
        cities: ['Bilbao', 'San Sebastián', 'Vitoria-Gasteiz'],
        postal: (g) => `48${g.digits(3)}`,
      },
    ],
  },
  {
    name: 'Mexico',
    spanish: true,
    domains: ['example.mx', 'example.com'],
    weight: 12,
    places: [
      { state: 'Ciudad de México', cities: ['Ciudad de México'], postal: (g) => `0${g.digits(4)}` },
      { state: 'Jalisco', cities: ['Guadalajara', 'Zapopan'], postal: (g) => `44${g.digits(3)}` },
      {
        state: 'Nuevo León',
        cities: ['Monterrey', 'San Pedro Garza García'],
        postal: (g) => `64${g.digits(3)}`,
      },
    ],
  },
  {
    name: 'Argentina',
    spanish: true,
    domains: ['example.com.ar', 'example.com'],
    weight: 6,
    places: [
      {
        state: 'Buenos Aires',
        cities: ['La Plata', 'Mar del Plata'],
        postal: (g) => `B${g.digits(4)}${g.letter()}${g.letter()}${g.letter()}`,
      },
      {
        state: 'Córdoba',
        cities: ['Córdoba', 'Villa María'],
        postal: (g) => `X${g.digits(4)}${g.letter()}${g.letter()}${g.letter()}`,
      },
    ],
  },
  {
    name: 'United States',
    spanish: false,
    domains: ['example.com', 'example.org', 'mail.example'],
    weight: 25,
    places: [
      {
        state: 'California',
        cities: ['Los Angeles', 'San Francisco', 'San Diego'],
        postal: (g) => `9${g.digits(4)}`,
      },
      {
        state: 'New York',
        cities: ['New York', 'Buffalo', 'Rochester'],
        postal: (g) => `1${g.digits(4)}`,
      },
      { state: 'Texas', cities: ['Houston', 'Austin', 'Dallas'], postal: (g) => `7${g.digits(4)}` },
      { state: 'Florida', cities: ['Miami', 'Orlando', 'Tampa'], postal: (g) => `3${g.digits(4)}` },
    ],
  },
  {
    name: 'United Kingdom',
    spanish: false,
    domains: ['example.co.uk', 'example.com'],
    weight: 15,
    places: [
      {
        state: 'England',
        cities: ['London', 'Manchester', 'Bristol'],
        postal: (g) =>
          `${g.letter()}${g.letter()}${g.digits(1)} ${g.digits(1)}${g.letter()}${g.letter()}`,
      },
      {
        state: 'Scotland',
        cities: ['Edinburgh', 'Glasgow'],
        postal: (g) => `EH${g.digits(1)} ${g.digits(1)}${g.letter()}${g.letter()}`,
      },
      {
        state: 'Wales',
        cities: ['Cardiff', 'Swansea'],
        postal: (g) => `CF${g.digits(2)} ${g.digits(1)}${g.letter()}${g.letter()}`,
      },
    ],
  },
  {
    name: 'Canada',
    spanish: false,
    domains: ['example.ca', 'example.com'],
    weight: 7,
    places: [
      {
        state: 'Ontario',
        cities: ['Toronto', 'Ottawa'],
        postal: (g) => `M${g.digits(1)}${g.letter()} ${g.digits(1)}${g.letter()}${g.digits(1)}`,
      },
      {
        state: 'British Columbia',
        cities: ['Vancouver', 'Victoria'],
        postal: (g) => `V${g.digits(1)}${g.letter()} ${g.digits(1)}${g.letter()}${g.digits(1)}`,
      },
    ],
  },
  {
    name: 'Ireland',
    spanish: false,
    domains: ['example.ie', 'example.com'],
    weight: 5,
    places: [
      {
        state: 'Leinster',
        cities: ['Dublin', 'Kilkenny'],
        postal: (g) => `D${g.digits(2)} ${g.letter()}${g.digits(1)}${g.letter()}${g.digits(1)}`,
      },
      {
        state: 'Munster',
        cities: ['Cork', 'Limerick'],
        postal: (g) => `T${g.digits(2)} ${g.letter()}${g.digits(1)}${g.letter()}${g.digits(1)}`,
      },
    ],
  },
];
const totalWeight = countries.reduce((sum, c) => sum + c.weight, 0);

/** Mulberry32: a tiny, fast, seedable PRNG, so a seed always gives the same file. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function asciiFold(text: string): string {
  return text
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^A-Za-z]/g, '')
    .toLowerCase();
}

function csvField(text: string): string {
  return /[",;\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

const SIGNUP_START = Date.UTC(2019, 0, 1);
const SIGNUP_END = Date.UTC(2026, 9, 31);
const DAY = 86_400_000;

/**
 * The demo file's lines: a header and `count` customers, each line ending in `\n`. The same
 * `seed` always yields the same lines; every email is unique (a running number is part of it).
 */
export function* demoProfileLines(count: number, seed = 1): Generator<string> {
  const g = new Draw(seededRandom(seed));
  const random = g.random;
  yield `${demoColumns.join(',')}\n`;
  for (let i = 1; i <= count; i++) {
    let r = random() * totalWeight;
    let country = countries[0] as Country;
    for (const candidate of countries) {
      if ((r -= candidate.weight) < 0) {
        country = candidate;
        break;
      }
    }
    const first = g.pick(country.spanish ? spanishFirst : englishFirst);
    const last = g.pick(country.spanish ? spanishLast : englishLast);
    const place = g.pick(country.places);
    const roll = random();
    let email = `${asciiFold(first)}.${asciiFold(last)}${i}@${g.pick(country.domains)}`;
    // Real exports are messy: about 2% upper case, 1% with stray spaces. Both unify on import.
    if (roll < 0.02) email = email.toUpperCase();
    else if (roll < 0.03) email = ` ${email} `;
    const signup = SIGNUP_START + Math.floor(random() * ((SIGNUP_END - SIGNUP_START) / DAY)) * DAY;
    const spend = random() < 0.15 ? 0 : Math.round(random() * random() * 250_000) / 100;
    const tier = spend > 1500 ? 'gold' : spend > 500 ? 'silver' : spend > 0 ? 'bronze' : 'none';
    const fields = [
      email,
      first,
      last,
      country.name,
      place.state,
      g.pick(place.cities),
      place.postal(g),
      new Date(signup).toISOString().slice(0, 10),
      spend.toFixed(2),
      tier,
      random() < 0.6 ? 'true' : 'false',
    ];
    yield `${fields.map(csvField).join(',')}\n`;
  }
}

/** Writes the demo CSV to `file` (streamed, honouring back-pressure) and returns its row count. */
export async function writeDemoProfiles(
  file: string,
  options: { profiles: number; seed?: number },
): Promise<number> {
  const out = fs.createWriteStream(file);
  const closed = once(out, 'close');
  try {
    let buffer = '';
    for (const line of demoProfileLines(options.profiles, options.seed ?? 1)) {
      buffer += line;
      if (buffer.length >= 1 << 16) {
        if (!out.write(buffer)) await once(out, 'drain');
        buffer = '';
      }
    }
    out.end(buffer);
    await closed;
  } catch (error) {
    out.destroy();
    throw error;
  }
  return options.profiles;
}
