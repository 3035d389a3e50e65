-- Amounts were written with Python's str(Decimal), which spells some as exponents ("0E-8"
-- for "0.00000000", "1.0E-7" for "0.00000010"). Rewrite them positionally, as the
-- exchange wrote them. SQLite has no decimal type: `positional` is registered by the
-- tracker's migrate step (tracker/migrate.py), which runs this file.
UPDATE orders SET price = positional(price) WHERE price LIKE '%E%';
UPDATE orders SET size = positional(size) WHERE size LIKE '%E%';
UPDATE orders SET filled_size = positional(filled_size) WHERE filled_size LIKE '%E%';
UPDATE orders SET filled_notional = positional(filled_notional)
    WHERE filled_notional LIKE '%E%';
UPDATE order_events SET filled_size = positional(filled_size) WHERE filled_size LIKE '%E%';
