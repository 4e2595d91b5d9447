"""The built-in toy vocabulary: 4-dimensional word vectors.

The seeds' words carry the seeds' exact values:

* "She ate the apple" (seed 000: "A Minimal Example in PyTorch")
* stream, bank, mud, money, loan (seed 004: "Self-Attention from First Principles")

Every other word is hand-placed on four loose axes so that related words are
near each other by cosine: 0 = physical things and nature, 1 = people, money and
society, 2 = living beings and pronouns, 3 = actions, states and qualities.
They are toy vectors for teaching, not trained embeddings.
"""

from __future__ import annotations

D_MODEL = 4

_TABLE = """
# seed 000
she      1.0 0.0 1.0 0.0
ate      0.0 1.0 0.0 1.0
the      1.0 1.0 0.0 0.0
apple    0.0 0.0 1.0 1.0
# seed 004
stream   1.2 0.0 0.0 0.3
bank     0.8 0.8 0.2 0.0
mud      0.9 0.0 0.0 0.9
money    0.0 1.4 0.0 0.1
loan     0.0 1.1 0.0 0.6
# determiners and function words
a        0.9 0.9 0.1 0.0
an       0.9 0.8 0.1 0.1
this     0.8 0.7 0.2 0.1
that     0.7 0.7 0.2 0.2
these    0.7 0.8 0.2 0.1
those    0.7 0.7 0.3 0.1
some     0.5 0.6 0.2 0.2
every    0.5 0.7 0.2 0.1
all      0.4 0.7 0.3 0.1
no       0.2 0.3 0.1 0.4
not      0.1 0.3 0.1 0.6
and      0.4 0.4 0.4 0.4
or       0.4 0.4 0.3 0.5
but      0.3 0.4 0.3 0.6
because  0.3 0.3 0.2 0.8
so       0.3 0.3 0.3 0.7
if       0.2 0.4 0.2 0.7
then     0.3 0.3 0.2 0.7
when     0.3 0.4 0.2 0.6
while    0.3 0.3 0.3 0.6
of       0.5 0.5 0.1 0.2
to       0.4 0.3 0.1 0.5
in       0.7 0.2 0.1 0.2
on       0.8 0.1 0.1 0.2
at       0.6 0.3 0.1 0.2
by       0.5 0.3 0.2 0.3
with     0.4 0.4 0.4 0.3
from     0.5 0.4 0.1 0.3
for      0.3 0.6 0.2 0.3
into     0.7 0.1 0.1 0.4
under    0.8 0.0 0.1 0.3
over     0.7 0.1 0.1 0.4
near     0.8 0.1 0.2 0.2
# pronouns
i        0.1 0.3 1.0 0.2
you      0.1 0.4 1.0 0.1
he       0.0 0.3 1.1 0.1
her      0.8 0.1 1.0 0.0
him      0.0 0.3 1.0 0.1
his      0.1 0.4 0.9 0.0
it       0.9 0.1 0.3 0.4
its      0.8 0.2 0.3 0.3
we       0.1 0.6 1.0 0.1
they     0.1 0.5 1.0 0.2
them     0.1 0.5 0.9 0.2
their    0.2 0.6 0.8 0.1
my       0.2 0.4 0.8 0.1
your     0.2 0.4 0.8 0.1
our      0.2 0.6 0.8 0.1
me       0.1 0.3 0.9 0.2
# verbs
is       0.2 0.2 0.1 0.9
was      0.2 0.2 0.1 1.0
are      0.2 0.3 0.2 0.9
were     0.2 0.3 0.2 1.0
be       0.2 0.2 0.1 0.8
been     0.2 0.2 0.1 0.9
has      0.3 0.5 0.1 0.7
have     0.3 0.5 0.2 0.7
had      0.3 0.5 0.1 0.8
do       0.1 0.3 0.2 0.9
did      0.1 0.3 0.2 1.0
can      0.1 0.4 0.2 0.8
will     0.1 0.4 0.2 0.8
would    0.1 0.4 0.2 0.8
eat      0.1 0.9 0.1 1.0
eats     0.1 0.9 0.1 1.0
drink    0.3 0.7 0.1 1.0
drank    0.3 0.7 0.1 1.1
sat      0.7 0.0 0.3 0.9
sit      0.7 0.0 0.3 0.8
sleep    0.5 0.0 0.5 0.9
slept    0.5 0.0 0.5 1.0
ran      0.4 0.1 0.6 1.1
run      0.4 0.1 0.6 1.0
walked   0.5 0.1 0.5 1.0
walk     0.5 0.1 0.5 0.9
saw      0.2 0.2 0.6 1.0
see      0.2 0.2 0.6 0.9
read     0.1 0.7 0.4 0.9
wrote    0.1 0.7 0.4 1.0
write    0.1 0.7 0.4 0.9
said     0.0 0.7 0.5 1.0
say      0.0 0.7 0.5 0.9
went     0.4 0.3 0.4 1.0
go       0.4 0.3 0.4 0.9
came     0.4 0.3 0.4 1.0
come     0.4 0.3 0.4 0.9
made     0.5 0.5 0.2 1.0
make     0.5 0.5 0.2 0.9
took     0.4 0.5 0.3 1.0
take     0.4 0.5 0.3 0.9
gave     0.2 0.8 0.3 1.0
give     0.2 0.8 0.3 0.9
like     0.1 0.5 0.5 0.8
likes    0.1 0.5 0.5 0.8
love     0.0 0.6 0.7 0.8
loves    0.0 0.6 0.7 0.8
chased   0.4 0.0 0.8 1.1
chase    0.4 0.0 0.8 1.0
found    0.5 0.4 0.3 1.0
find     0.5 0.4 0.3 0.9
paid     0.0 1.2 0.2 0.9
pay      0.0 1.2 0.2 0.8
borrow   0.0 1.1 0.2 0.8
borrowed 0.0 1.1 0.2 0.9
deposit  0.2 1.2 0.0 0.7
flows    1.1 0.0 0.0 0.8
flow     1.1 0.0 0.0 0.7
swim     1.0 0.0 0.5 0.9
fish     1.1 0.0 0.7 0.2
# people
man      0.2 0.6 1.0 0.1
woman    0.3 0.6 1.0 0.1
boy      0.2 0.5 1.0 0.2
girl     0.3 0.5 1.0 0.2
child    0.3 0.4 1.0 0.2
people   0.2 0.8 0.9 0.1
friend   0.1 0.7 0.9 0.2
teacher  0.1 0.9 0.8 0.2
student  0.1 0.8 0.8 0.3
doctor   0.2 0.9 0.8 0.2
king     0.1 1.0 0.8 0.1
queen    0.2 1.0 0.8 0.1
# animals
cat      0.5 0.0 1.0 0.3
cats     0.5 0.0 1.0 0.3
dog      0.5 0.1 1.0 0.4
dogs     0.5 0.1 1.0 0.4
bird     0.7 0.0 0.9 0.4
mouse    0.6 0.0 0.9 0.4
horse    0.7 0.1 0.9 0.4
cow      0.8 0.1 0.9 0.3
# things and places
mat      0.9 0.1 0.2 0.3
table    1.0 0.2 0.1 0.1
chair    1.0 0.1 0.2 0.1
bed      0.9 0.0 0.3 0.4
house    0.9 0.3 0.2 0.1
home     0.8 0.4 0.4 0.2
door     1.0 0.2 0.1 0.1
window   1.0 0.1 0.1 0.2
room     0.9 0.2 0.2 0.1
car      1.0 0.4 0.0 0.3
road     1.1 0.2 0.0 0.2
street   1.0 0.4 0.1 0.2
city     0.8 0.8 0.2 0.1
school   0.6 0.9 0.4 0.1
book     0.6 0.7 0.1 0.2
paper    0.8 0.6 0.0 0.1
phone    0.7 0.6 0.2 0.2
computer 0.7 0.7 0.1 0.3
food     0.3 0.5 0.5 0.6
bread    0.4 0.5 0.4 0.6
water    1.2 0.0 0.1 0.5
tree     1.1 0.0 0.4 0.2
river    1.3 0.0 0.0 0.4
lake     1.3 0.0 0.0 0.3
sea      1.3 0.0 0.1 0.4
rock     1.2 0.0 0.0 0.1
sun      1.1 0.0 0.2 0.5
sky      1.1 0.0 0.1 0.3
rain     1.1 0.0 0.0 0.6
day      0.5 0.4 0.1 0.4
night    0.6 0.3 0.1 0.5
time     0.3 0.6 0.1 0.5
year     0.3 0.6 0.1 0.4
# money
cash     0.1 1.3 0.0 0.1
account  0.0 1.3 0.1 0.2
credit   0.0 1.2 0.0 0.3
interest 0.0 1.2 0.1 0.4
price    0.1 1.2 0.0 0.2
market   0.3 1.1 0.2 0.2
job      0.1 1.0 0.4 0.4
work     0.2 0.9 0.4 0.6
# qualities
soft     0.8 0.0 0.2 0.6
hard     0.9 0.0 0.1 0.6
big      0.8 0.3 0.2 0.5
small    0.7 0.2 0.3 0.5
good     0.3 0.5 0.4 0.6
bad      0.3 0.4 0.4 0.7
happy    0.1 0.4 0.8 0.7
sad      0.1 0.3 0.8 0.7
tired    0.2 0.2 0.8 0.8
hungry   0.2 0.4 0.7 0.9
red      0.9 0.1 0.1 0.5
green    1.0 0.1 0.2 0.5
old      0.5 0.4 0.3 0.5
new      0.5 0.5 0.2 0.5
warm     0.9 0.1 0.3 0.6
cold     1.0 0.1 0.1 0.6
rich     0.0 1.3 0.3 0.4
poor     0.0 1.1 0.4 0.5
quickly  0.3 0.1 0.3 1.0
slowly   0.4 0.1 0.3 0.9
very     0.2 0.2 0.2 0.7
here     0.7 0.2 0.2 0.3
there    0.7 0.2 0.2 0.3
"""


def _parse(table: str) -> dict[str, tuple[float, ...]]:
    vocab: dict[str, tuple[float, ...]] = {}
    for line in table.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, *numbers = line.split()
        vocab.setdefault(word, tuple(float(x) for x in numbers))
    return vocab


#: token (lower case) -> 4 numbers; the order is the order above.
TOY_VOCABULARY: dict[str, tuple[float, ...]] = _parse(_TABLE)

#: Words that come from the seeds, with the seed they come from.
SEED_WORDS = {
    "she": "000", "ate": "000", "the": "000", "apple": "000",
    "stream": "004", "bank": "004", "mud": "004", "money": "004", "loan": "004",
}
