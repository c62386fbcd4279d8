#!/usr/bin/env python3
"""Writes a deterministic SQL script for the sqlite3 shell: a small shop
schema, ROWS orders (each with 1-4 items) inserted in one transaction,
indexes built after the load, then joins, GROUP BY and window queries whose
results are printed. The same ROWS always gives the same script and output.

    gen_sql.py [--rows N] [--output FILE]
"""
import argparse
import sys


def lcg(seed):
    state = seed
    while True:
        state = (state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        yield state >> 33


SCHEMA = """\
CREATE TABLE customer (id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT NOT NULL,
  joined INTEGER NOT NULL);
CREATE TABLE product (id INTEGER PRIMARY KEY, title TEXT NOT NULL, category TEXT NOT NULL,
  price_cents INTEGER NOT NULL);
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customer(id),
  day INTEGER NOT NULL, note TEXT);
CREATE TABLE item (order_id INTEGER NOT NULL REFERENCES orders(id),
  product_id INTEGER NOT NULL REFERENCES product(id), qty INTEGER NOT NULL);
"""

QUERIES = """\
CREATE INDEX item_order ON item(order_id);
CREATE INDEX item_product ON item(product_id);
CREATE INDEX orders_customer ON orders(customer_id, day);
CREATE INDEX customer_city ON customer(city);
ANALYZE;
SELECT 'rows', (SELECT count(*) FROM customer), (SELECT count(*) FROM product),
  (SELECT count(*) FROM orders), (SELECT count(*) FROM item);
SELECT 'revenue by category';
SELECT p.category, count(DISTINCT o.id), sum(i.qty), sum(i.qty * p.price_cents)
  FROM item i JOIN product p ON p.id = i.product_id JOIN orders o ON o.id = i.order_id
  GROUP BY p.category ORDER BY 4 DESC, 1;
SELECT 'top cities';
SELECT c.city, count(*) AS n, sum(i.qty * p.price_cents) AS cents
  FROM customer c JOIN orders o ON o.customer_id = c.id JOIN item i ON i.order_id = o.id
  JOIN product p ON p.id = i.product_id
  GROUP BY c.city ORDER BY cents DESC, c.city LIMIT 8;
SELECT 'best customers';
SELECT name, total, rank FROM (
  SELECT c.name, sum(i.qty * p.price_cents) AS total,
    rank() OVER (ORDER BY sum(i.qty * p.price_cents) DESC) AS rank
    FROM customer c JOIN orders o ON o.customer_id = c.id JOIN item i ON i.order_id = o.id
    JOIN product p ON p.id = i.product_id
    GROUP BY c.id) WHERE rank <= 5 ORDER BY rank, name;
SELECT 'monthly';
SELECT day / 30 AS month, count(*), count(note), group_concat(DISTINCT substr(note, 1, 3)) IS NOT NULL
  FROM orders GROUP BY month ORDER BY month LIMIT 12;
SELECT 'unsold products', count(*) FROM product p WHERE NOT EXISTS (SELECT 1 FROM item i WHERE i.product_id = p.id);
SELECT 'repeat buyers', count(*) FROM (SELECT customer_id FROM orders GROUP BY customer_id HAVING count(*) >= 5);
UPDATE product SET price_cents = price_cents * 11 / 10 WHERE category IN ('tools', 'garden');
DELETE FROM item WHERE qty = 4 AND product_id % 3 = 0;
SELECT 'after update', sum(i.qty * p.price_cents), count(*) FROM item i JOIN product p ON p.id = i.product_id;
SELECT 'checksum', sum(length(c.name) * o.day) % 1000003 FROM orders o JOIN customer c ON c.id = o.customer_id;
"""

CITIES = ["Lisbon", "Oslo", "Quito", "Hanoi", "Accra", "Lima", "Perth", "Turin",
          "Kyoto", "Dakar", "Cork", "Fez", "Split", "Bergen", "Leon", "Nice"]
CATEGORIES = ["books", "tools", "garden", "toys", "food", "music", "games", "sport"]
SYLLABLES = ["ka", "lo", "mi", "nu", "pe", "ra", "si", "to", "vu", "xe", "za", "bo"]


def word(rnd, parts):
    return "".join(SYLLABLES[next(rnd) % len(SYLLABLES)] for _ in range(parts))


def generate(rows, out):
    rnd = lcg(rows)
    customers = max(10, rows // 20)
    products = 500
    out.write(SCHEMA)
    out.write("BEGIN;\n")
    for c in range(1, customers + 1):
        out.write("INSERT INTO customer VALUES (%d, '%s %s', '%s', %d);\n" % (
            c, word(rnd, 2).title(), word(rnd, 3).title(),
            CITIES[next(rnd) % len(CITIES)], next(rnd) % 3650))
    for p in range(1, products + 1):
        out.write("INSERT INTO product VALUES (%d, '%s', '%s', %d);\n" % (
            p, word(rnd, 4), CATEGORIES[next(rnd) % len(CATEGORIES)], 99 + next(rnd) % 20000))
    for o in range(1, rows + 1):
        r = next(rnd)
        note = "NULL" if r % 3 else "'%s'" % " ".join(word(rnd, 2) for _ in range(1 + r % 6))
        out.write("INSERT INTO orders VALUES (%d, %d, %d, %s);\n" % (
            o, 1 + next(rnd) % customers, next(rnd) % 365, note))
        for _ in range(1 + r % 4):
            out.write("INSERT INTO item VALUES (%d, %d, %d);\n" % (
                o, 1 + next(rnd) % products, 1 + next(rnd) % 4))
    out.write("COMMIT;\n")
    out.write(QUERIES)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=80000, help="orders to insert (default 80000)")
    parser.add_argument("--output", help="file to write (default: stdout)")
    args = parser.parse_args()
    if args.rows < 1:
        parser.error("--rows must be at least 1")
    if args.output:
        with open(args.output, "w") as out:
            generate(args.rows, out)
    else:
        generate(args.rows, sys.stdout)


if __name__ == "__main__":
    main()
